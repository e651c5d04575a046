// The page's one door to client/: the typed tRPC client, a session's live socket, search and the dev sign-in.
import { ChatSocket, createChatClient, type ChatSocketEvents, type Message, type RouterOutputs, type Session } from "../../client";

export type { Message, Session };
export type SessionListItem = RouterOutputs["sessions"]["list"]["sessions"][number];
export type Turn = Parameters<ChatSocketEvents["turn"]>[0];
export type TurnState = Turn["state"];
export type SocketState = "connecting" | "open" | "offline" | "closed";

/** The events a live session gives the page (the shape of client/'s `connect()`). */
export interface LiveEvents {
  message: (m: Message) => void;
  turn: (t: Turn) => void;
  /** `text` is the reply so far for this turn and attempt. */
  delta: (d: { turnId: string; attempt: number; index: number; delta: string; text: string }) => void;
  typing: (t: { userId: string; isTyping: boolean }) => void;
  session: (s: Session) => void;
  error: (e: { code: string; message: string }) => void;
  state: (s: SocketState) => void;
}

export interface LiveSession {
  on<E extends keyof LiveEvents>(event: E, listener: LiveEvents[E]): () => void;
  /** Resolves with the stored message. */
  send(content: string, opts?: { clientId?: string }): Promise<Message>;
  typing(isTyping: boolean): void;
  cancelTurn(turnId?: string): void;
  close(): void;
}

export interface SearchHit {
  sessionId: string;
  sessionTitle: string | null;
  messageId: string;
  seq: number;
  direction: Message["direction"];
  createdAt: string;
  rank: number;
  /** HTML-escaped text with <mark> around the matches. */
  snippet: string;
}

/** An API answer the page shows as is: `status` 401 means the sign-in is no longer valid. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The tRPC client's errors carry the HTTP status in `data`; anything else is a network failure. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

export function isUnauthorized(err: unknown): boolean {
  if (err instanceof ApiError) return err.status === 401;
  const data = (err as { data?: { httpStatus?: number } } | null)?.data;
  return data?.httpStatus === 401;
}

export function createApi(origin: string, getToken: () => string) {
  const trpc = createChatClient({ url: origin, token: getToken });

  /** A raw tRPC query, for procedures this branch's client types do not know yet. */
  async function query<T>(path: string, input: unknown): Promise<T> {
    const res = await fetch(`${origin}/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`, {
      headers: { authorization: `Bearer ${getToken()}` },
    });
    const body = (await res.json().catch(() => null)) as { result?: { data: T }; error?: { message?: string } } | null;
    if (!res.ok || !body?.result) throw new ApiError(res.status, body?.error?.message ?? `HTTP ${res.status}`);
    return body.result.data;
  }

  function connect(sessionId: string, opts: { since?: number } = {}): LiveSession {
    const socket = new ChatSocket({ url: origin, sessionId, token: getToken, client: trpc, ...(opts.since !== undefined ? { since: opts.since } : {}) });
    const listeners = new Map<keyof LiveEvents, Set<(arg: never) => void>>();
    const emit = <E extends keyof LiveEvents>(event: E, arg: Parameters<LiveEvents[E]>[0]) => {
      for (const l of listeners.get(event) ?? []) (l as (a: typeof arg) => void)(arg);
    };
    // Sends resolve with the stored message: it comes as a `message` with the send's clientId.
    const waiting = new Map<string, (m: Message) => void>();
    // The reply so far per turn (deltas are pieces; the page wants the whole text).
    const replies = new Map<string, { attempt: number; index: number; text: string }>();
    socket.on("message", (m) => {
      if (m.clientId && waiting.has(m.clientId)) {
        waiting.get(m.clientId)!(m);
        waiting.delete(m.clientId);
      }
      emit("message", m);
    });
    socket.on("turn", (t) => {
      if (t.text !== undefined) replies.set(t.turnId, { attempt: t.attempt, index: t.index ?? -1, text: t.text });
      emit("turn", t);
    });
    socket.on("delta", (d) => {
      let r = replies.get(d.turnId);
      if (!r || d.attempt > r.attempt) replies.set(d.turnId, (r = { attempt: d.attempt, index: -1, text: "" }));
      if (d.attempt < r.attempt || d.index <= r.index) return;
      r.index = d.index;
      r.text += d.text;
      emit("delta", { turnId: d.turnId, attempt: d.attempt, index: d.index, delta: d.text, text: r.text });
    });
    socket.on("typing", (t) => emit("typing", { userId: t.userId, isTyping: t.isTyping }));
    socket.on("session", (s) => emit("session", s));
    socket.on("error", (e) => emit("error", { code: e.code, message: e.message }));
    socket.on("state", (s) => emit("state", s));
    return {
      on(event, listener) {
        let set = listeners.get(event);
        if (!set) listeners.set(event, (set = new Set()));
        set.add(listener as (arg: never) => void);
        return () => set.delete(listener as (arg: never) => void);
      },
      send(content, o = {}) {
        const clientId = o.clientId ?? crypto.randomUUID();
        const stored = new Promise<Message>((resolve) => waiting.set(clientId, resolve));
        return socket.send(content, { clientId }).then(() => stored);
      },
      typing: (isTyping) => socket.typing(isTyping),
      cancelTurn: (turnId) => socket.cancelTurn(turnId),
      close: () => socket.close(),
    };
  }

  return {
    trpc,
    connect,
    /** Full-text search over the caller's messages (admins: everyone's). */
    search: (input: { q: string; limit?: number; cursor?: string }) =>
      query<{ results: SearchHit[]; nextCursor: string | null }>("messages.search", input),
  };
}

export type Api = ReturnType<typeof createApi>;

/** The agent types the Worker knows (GET /health → agents.types). */
export async function agentTypes(origin: string): Promise<string[]> {
  const res = await fetch(`${origin}/health`).catch(() => null);
  const body = (await res?.json().catch(() => null)) as { agents?: { types?: unknown } } | null;
  const types = body?.agents?.types;
  return Array.isArray(types) ? types.filter((t): t is string => typeof t === "string") : [];
}

export interface Auth {
  token: string;
  userId: string;
  role: "user" | "admin";
}

/** Development sign-in (POST /api/dev/token); a 404 means the server does not offer it. */
export async function devSignIn(origin: string, input: { userId?: string; name?: string; admin?: boolean }): Promise<Auth> {
  const res = await fetch(`${origin}/api/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(input),
  });
  const body = (await res.json().catch(() => null)) as { token?: string; userId?: string; role?: string; message?: string } | null;
  if (res.status === 404) throw new ApiError(404, "Development sign-in is off on this server (it needs DEV_LOGIN). Paste a token instead.");
  if (!res.ok || !body?.token || !body.userId) throw new ApiError(res.status, body?.message ?? `sign-in failed: HTTP ${res.status}`);
  return { token: body.token, userId: body.userId, role: body.role === "admin" ? "admin" : "user" };
}
