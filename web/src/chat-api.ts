// The page's one door to client/ (imported as a frontend would, "edge-chat/client"): the typed client, search, the dev sign-in.
import { createChatClient, type Message, type RouterOutputs, type Session, type SessionSocket, type SocketState, type Turn, type TurnState } from "edge-chat/client";

export type { Message, Session, SocketState, Turn, TurnState };
export { finalTurnStates } from "edge-chat/client";
export type SessionListItem = RouterOutputs["sessions"]["list"]["sessions"][number];
export type SearchHit = RouterOutputs["messages"]["search"]["results"][number];
/** A session's live socket (client/'s `connect()`). */
export type LiveSession = SessionSocket;

/** An answer of ours (not the tRPC client's) the page shows as is: `status` 401 means the sign-in is no longer valid. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** The tRPC client's errors carry the HTTP status in `data`. */
export function httpStatus(err: unknown): number | undefined {
  if (err instanceof ApiError) return err.status;
  return (err as { data?: { httpStatus?: number } } | null)?.data?.httpStatus;
}

export const isUnauthorized = (err: unknown) => httpStatus(err) === 401;

export function createApi(origin: string, getToken: () => string) {
  const client = createChatClient({ url: origin, getToken });
  return {
    trpc: client,
    connect: (sessionId: string, opts: { since?: number } = {}): LiveSession => client.connect(sessionId, opts),
    /** Full-text search over the caller's messages (admins: everyone's). */
    search: (input: { q: string; limit?: number; cursor?: string }) => client.messages.search.query(input),
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
