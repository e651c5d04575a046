// What the rest of the Worker exchanges with a session's object over RPC, and what each socket carries.
import type { Message, Session } from "../schemas";

/** What Postgres may not have yet: see ChatSession.pending(). */
export interface Pending {
  lastSeq: number;
  messageCount: number;
  lastActivityAt: string;
  status: { status: Session["status"]; updatedAt: string } | null;
  /** Who handles the session, its agent type and context, when Postgres may not have them yet. */
  handling: Pick<Session, "agentType" | "handler" | "handlerUserId" | "handlerSince" | "context"> | null;
  messages: Message[];
}

/** What the Worker changed in Postgres: a rename leaves the status alone, anything else sets it. */
export type SessionChange = "renamed" | "status";

export interface Caller {
  id: string;
  role: "user" | "admin";
}

export interface SendInput {
  clientId: string | null;
  content: string;
  messageType: string;
  metadata: Record<string, unknown>;
}

export type SendError = {
  ok: false;
  code: "NOT_FOUND" | "FORBIDDEN" | "CONFLICT" | "TOO_MANY_REQUESTS" | "PAYLOAD_TOO_LARGE" | "SERVICE_UNAVAILABLE" | "AGENTS_MISCONFIGURED";
  error: string;
  retryAfterMs?: number;
};

export type SendResult = { ok: true; message: Message; duplicate: boolean } | SendError;

export type TurnStreamResult = { ok: true; stream: ReadableStream<Uint8Array> | null } | { ok: false; code: "NOT_FOUND" | "SERVICE_UNAVAILABLE"; error: string };

/** Per-socket state, kept in the socket's attachment so it survives hibernation. */
export interface Attachment {
  userId: string;
  role: "user" | "admin";
}

export class SessionUnavailable extends Error {
  override name = "SessionUnavailable";
}
