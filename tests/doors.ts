// Every door of the API as the auth matrix and the isolation tests call it: each procedure over tRPC and
// over its REST twin, the session socket, the useChat routes, the export and the agent callback.
import { randomUUID } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { inject } from "vitest";
import ws from "ws";
import { baseUrl, token } from "./helpers";

/** What a door answered: the HTTP status (101 for an accepted socket), and the error's code and message. */
export interface Answer {
  status: number;
  /** `{code}` of a REST error, `error.data.code` of a tRPC one. */
  code?: string;
  message?: string;
  body: unknown;
}

/** A session to call doors on: its owner, their token, and a turn running in it (the shared Worker's agents never answer). */
export interface Fixture {
  userId: string;
  token: string;
  sessionId: string;
}

/** Who calls: the fixture's owner, a guest owning their own fixture, another user, or an admin who does not own it. */
export type Role = "owner" | "guest" | "other" | "admin";

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  const b = body as { code?: unknown; message?: unknown; error?: { message?: string; data?: { code?: string } } } | null;
  if (b && typeof b === "object" && b.error && typeof b.error === "object") {
    return { status: res.status, code: b.error.data?.code, message: b.error.message, body };
  }
  return {
    status: res.status,
    code: b && typeof b === "object" && typeof b.code === "string" ? b.code : undefined,
    message: b && typeof b === "object" && typeof b.message === "string" ? b.message : undefined,
    body,
  };
}

const authHeader = (t: string | null): Record<string, string> => (t === null ? {} : { authorization: `Bearer ${t}` });

/** A tRPC call as the client's links make it: a query is a GET with ?input=, a mutation a POST with a JSON body. */
export async function trpc(kind: "query" | "mutation", name: string, input: unknown, t: string | null, base = baseUrl()): Promise<Answer> {
  const res =
    kind === "query"
      ? await fetch(`${base}/trpc/${name}?input=${encodeURIComponent(JSON.stringify(input))}`, { headers: authHeader(t) })
      : await fetch(`${base}/trpc/${name}`, { method: "POST", headers: { ...authHeader(t), "content-type": "application/json" }, body: JSON.stringify(input) });
  return answer(res);
}

/** A REST call to `path` (OpenAPI's, relative to /api): path parameters come from `input`, the rest is the query (GET, DELETE) or the JSON body. */
export async function rest(method: string, path: string, input: Record<string, unknown>, t: string | null, base = baseUrl()): Promise<Answer> {
  const rest = { ...input };
  const url = path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = rest[name];
    delete rest[name];
    return encodeURIComponent(String(value));
  });
  const inQuery = method === "GET" || method === "DELETE";
  const qs = inQuery && Object.keys(rest).length ? `?${new URLSearchParams(Object.entries(rest).map(([k, v]): [string, string] => [k, String(v)]))}` : "";
  const res = await fetch(`${base}/api${url}${qs}`, {
    method,
    headers: { ...authHeader(t), ...(inQuery ? {} : { "content-type": "application/json" }) },
    body: inQuery ? undefined : JSON.stringify(rest),
  });
  return answer(res);
}

/**
 * A route that streams (the useChat routes): the status and, for an error, its body; a stream is not
 * read (the shared Worker's agents never answer, so it would not end) but cancelled once its headers came.
 */
export async function streamed(method: string, path: string, t: string | null, body?: unknown, base = baseUrl()): Promise<Answer> {
  const controller = new AbortController();
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...authHeader(t), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: controller.signal,
  });
  if ((res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    controller.abort();
    return { status: res.status, body: null };
  }
  return answer(res);
}

/**
 * The session socket: 101 when the upgrade is accepted (the socket is closed again at once), else the
 * refusal's status and body. `via`: the token as `?token=` or as the `bearer.<jwt>` subprotocol.
 */
export function socket(sessionId: string, t: string | null, via: "query" | "protocol" = "query", base = baseUrl()): Promise<Answer> {
  const qs = t !== null && via === "query" ? `?token=${encodeURIComponent(t)}` : "";
  const protocols = t !== null && via === "protocol" ? ["edge-chat", `bearer.${t}`] : [];
  const socket = new ws(`${base.replace(/^http/, "ws")}/api/sessions/${sessionId}/ws${qs}`, protocols);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`socket upgrade for ${sessionId}: no answer within 10 s`));
    }, 10_000);
    socket.once("open", () => {
      clearTimeout(timer);
      socket.close(1000);
      resolve({ status: 101, body: null });
    });
    socket.once("unexpected-response", (_req, res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c));
      res.on("end", () => {
        clearTimeout(timer);
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {}
        const b = body as { code?: string; message?: string };
        resolve({ status: res.statusCode ?? 0, code: b?.code, message: b?.message, body });
      });
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** A customer message as useChat's DefaultChatTransport sends it (the trimmed `{id, message}` body). */
export function chatBody(sessionId: string, text = "hello from useChat") {
  return { id: sessionId, message: { id: `ui-${randomUUID()}`, role: "user", parts: [{ type: "text", text }] } };
}

/**
 * The doors that are not tRPC procedures, each with what its owner, another user and an admin get
 * (the agent callback takes a webhook signature, never a bearer token: every token gets 401 there),
 * and whether a call that gets through changes the session (then the matrix gives it a session of its own).
 */
export const OTHER_DOORS = {
  "socket ?token=": { openapi: "GET /sessions/{sessionId}/ws", call: (fx: Fixture, t: string | null) => socket(fx.sessionId, t, "query"), expect: { owner: 101, other: 404, admin: 101 } },
  "socket bearer.<jwt>": { openapi: "GET /sessions/{sessionId}/ws", call: (fx: Fixture, t: string | null) => socket(fx.sessionId, t, "protocol"), expect: { owner: 101, other: 404, admin: 101 } },
  "POST /api/chat": { openapi: "POST /chat", mutates: true, call: (fx: Fixture, t: string | null) => streamed("POST", "/api/chat", t, chatBody(fx.sessionId)), expect: { owner: 200, other: 404, admin: 403 } },
  "GET /api/chat/{id}/stream": { openapi: "GET /chat/{sessionId}/stream", call: (fx: Fixture, t: string | null) => streamed("GET", `/api/chat/${fx.sessionId}/stream`, t), expect: { owner: 200, other: 404, admin: 200 } },
  "POST /api/chat/{id}/stop": { openapi: "POST /chat/{sessionId}/stop", mutates: true, call: (fx: Fixture, t: string | null) => streamed("POST", `/api/chat/${fx.sessionId}/stop`, t), expect: { owner: 200, other: 404, admin: 200 } },
  "GET export json": { openapi: "GET /sessions/{sessionId}/export", call: (fx: Fixture, t: string | null) => rest("GET", "/sessions/{sessionId}/export", { sessionId: fx.sessionId }, t), expect: { owner: 200, other: 404, admin: 200 } },
  "GET export markdown": { openapi: "GET /sessions/{sessionId}/export", call: (fx: Fixture, t: string | null) => rest("GET", "/sessions/{sessionId}/export", { sessionId: fx.sessionId, format: "markdown" }, t), expect: { owner: 200, other: 404, admin: 200 } },
  "agent callback": {
    openapi: "POST /webhooks/agents/{agentType}",
    call: (fx: Fixture, t: string | null) => rest("POST", "/webhooks/agents/{agentType}", { agentType: "primary", turnId: randomUUID(), sessionId: fx.sessionId, output: "let me in" }, t),
    expect: { owner: 401, other: 401, admin: 401 },
  },
} satisfies Record<string, { openapi: string; mutates?: true; call: (fx: Fixture, t: string | null) => Promise<Answer>; expect: Record<"owner" | "other" | "admin", number> }>;

/** A new user (or guest) with a session and one message in it, so a turn runs (waiting for a callback that never comes). */
export async function fixture(opts: { guest?: boolean; base?: string } = {}): Promise<Fixture> {
  const userId = `${opts.guest ? "guest" : "owner"}-${randomUUID().slice(0, 8)}`;
  const t = await token(userId, { guest: opts.guest });
  const created = await rest("POST", "/sessions", { title: "a door fixture" }, t, opts.base);
  if (created.status !== 200) throw new Error(`fixture: create answered ${created.status} ${JSON.stringify(created.body)}`);
  const sessionId = (created.body as { id: string }).id;
  const sent = await rest("POST", "/sessions/{sessionId}/messages", { sessionId, content: "my card was declined", clientId: "fx-1" }, t, opts.base);
  if (sent.status !== 200) throw new Error(`fixture: send answered ${sent.status} ${JSON.stringify(sent.body)}`);
  return { userId, token: t, sessionId };
}

/** Runs `fn` over `items`, `limit` at a time (the machine is shared: no stampede). */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

interface ProcedureDoor {
  kind: "query" | "mutation";
  /** The REST twin, as in the procedure's meta.openapi (the matrix checks it against the router). */
  rest: { method: "GET" | "POST" | "PATCH" | "DELETE"; path: string };
  /** A valid input for a call on `fx` (by its owner, another user or an admin). */
  input(fx: Fixture): Record<string, unknown>;
  /** What the README promises each caller: `owner` also stands for a guest calling on their own session. */
  expect: Record<"owner" | "other" | "admin", number>;
}

const bySession = (fx: Fixture) => ({ sessionId: fx.sessionId });
/** Support staff's routes: 403 for every user, however they own what they name. */
const staffOnly = { owner: 403, other: 403, admin: 200 };

/** Every procedure of worker/routers: a procedure without an entry here fails the auth matrix. */
export const PROCEDURE_DOORS = {
  "sessions.create": { kind: "mutation", rest: { method: "POST", path: "/sessions" }, input: () => ({ title: "door" }), expect: { owner: 200, other: 200, admin: 200 } },
  "sessions.get": { kind: "query", rest: { method: "GET", path: "/sessions/{sessionId}" }, input: bySession, expect: { owner: 200, other: 404, admin: 200 } },
  "sessions.list": { kind: "query", rest: { method: "GET", path: "/users/{userId}/sessions" }, input: (fx) => ({ userId: fx.userId }), expect: { owner: 200, other: 403, admin: 200 } },
  "sessions.rename": { kind: "mutation", rest: { method: "PATCH", path: "/sessions/{sessionId}" }, input: (fx) => ({ ...bySession(fx), title: "renamed" }), expect: { owner: 200, other: 404, admin: 403 } },
  "sessions.end": { kind: "mutation", rest: { method: "DELETE", path: "/sessions/{sessionId}" }, input: bySession, expect: { owner: 200, other: 404, admin: 403 } },
  "sessions.resume": { kind: "mutation", rest: { method: "POST", path: "/sessions/{sessionId}/resume" }, input: bySession, expect: { owner: 200, other: 404, admin: 403 } },
  "sessions.resolve": { kind: "mutation", rest: { method: "POST", path: "/sessions/{sessionId}/resolve" }, input: bySession, expect: { owner: 200, other: 404, admin: 200 } },
  "sessions.waiting": { kind: "query", rest: { method: "GET", path: "/sessions/waiting" }, input: () => ({}), expect: staffOnly },
  "sessions.handoff": { kind: "mutation", rest: { method: "POST", path: "/sessions/{sessionId}/handoff" }, input: (fx) => ({ ...bySession(fx), to: "human" }), expect: staffOnly },
  "messages.send": {
    kind: "mutation",
    rest: { method: "POST", path: "/sessions/{sessionId}/messages" },
    input: (fx) => ({ ...bySession(fx), content: "one more thing", clientId: randomUUID() }),
    // Admins write to a customer's session only while a human holds it.
    expect: { owner: 200, other: 404, admin: 403 },
  },
  "messages.history": { kind: "query", rest: { method: "GET", path: "/sessions/{sessionId}/history" }, input: bySession, expect: { owner: 200, other: 404, admin: 200 } },
  "messages.search": { kind: "query", rest: { method: "GET", path: "/search" }, input: (fx) => ({ ...bySession(fx), q: "card" }), expect: { owner: 200, other: 404, admin: 200 } },
  "users.stats": { kind: "query", rest: { method: "GET", path: "/users/{userId}/stats" }, input: (fx) => ({ userId: fx.userId }), expect: { owner: 200, other: 403, admin: 200 } },
  "turns.cancel": { kind: "mutation", rest: { method: "POST", path: "/sessions/{sessionId}/turns/cancel" }, input: bySession, expect: { owner: 200, other: 404, admin: 200 } },
  "admin.deadLetters": { kind: "query", rest: { method: "GET", path: "/admin/dead-letters" }, input: () => ({}), expect: staffOnly },
  "agents.deadLetters": { kind: "query", rest: { method: "GET", path: "/agents/dead-letters" }, input: () => ({}), expect: staffOnly },
  // No turn of that id: an admin gets through the door to a 404.
  "agents.retry": { kind: "mutation", rest: { method: "POST", path: "/agents/dead-letters/{turnId}/retry" }, input: () => ({ turnId: randomUUID() }), expect: { owner: 403, other: 403, admin: 404 } },
  "agents.health": { kind: "query", rest: { method: "GET", path: "/agents/health" }, input: () => ({}), expect: staffOnly },
} satisfies Record<string, ProcedureDoor>;

export type ProcedureName = keyof typeof PROCEDURE_DOORS;

/** Calls procedure `name` on `fx` over tRPC or REST. */
export function callProcedure(name: ProcedureName, via: "trpc" | "rest", fx: Fixture, t: string | null, base = baseUrl()): Promise<Answer> {
  const door: ProcedureDoor = PROCEDURE_DOORS[name];
  const input = door.input(fx);
  return via === "trpc" ? trpc(door.kind, name, input, t, base) : rest(door.rest.method, door.rest.path, input, t, base);
}

/** The shared Worker's agents (tests/setup/global.ts): every type is a webhook agent with this plain secret. */
const secret = () => (JSON.parse(inject("quietAgents")) as Record<string, { secret: string }>).primary!.secret;
export const callbackUrl = (agentType = "primary") => `${baseUrl()}/api/webhooks/agents/${agentType}`;

export interface Delivery {
  id: string;
  timestamp: Date;
  body: string;
  signature: string;
}

/** A delivery signed as a webhook agent signs it: Standard Webhooks over the exact bytes of `body`. */
export function signCallback(body: unknown, opts: { id?: string; timestamp?: Date } = {}): Delivery {
  const id = opts.id ?? `msg_${randomUUID()}`;
  const timestamp = opts.timestamp ?? new Date();
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const signature = new Webhook(new TextEncoder().encode(secret()), { format: "raw" }).sign(id, timestamp, text);
  return { id, timestamp, body: text, signature };
}

/** POSTs a delivery, with any of its parts replaced (to tamper with it) or its headers left out. */
export async function postCallback(d: Delivery, opts: { url?: string; body?: string; id?: string; omit?: string[] } = {}) {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "webhook-id": opts.id ?? d.id,
    "webhook-timestamp": String(Math.floor(d.timestamp.getTime() / 1000)),
    "webhook-signature": d.signature,
  };
  for (const name of opts.omit ?? []) delete headers[name];
  const res = await fetch(opts.url ?? callbackUrl(), { method: "POST", headers, body: opts.body ?? d.body });
  const text = await res.text();
  let body: { code?: string; message?: string } | string = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body };
}
