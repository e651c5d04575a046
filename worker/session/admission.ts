// Whether a session takes a new message now (pure): who may write, size, status and the rate limit.
import type { Config } from "../config";
import { gcra } from "../rate-limit";
import type { Message, Session } from "../schemas";
import type { Caller, SendError, SendInput } from "./contract";

export type Admission = { ok: true; tat: number } | SendError;

type Limits = Pick<Config, "MAX_CONTENT_BYTES" | "MESSAGE_RATE_PER_MINUTE" | "MESSAGE_BURST">;

/** Whose words a message is: the customer's, or (while a human holds the session) support staff's. */
export type Author = "customer" | "staff";

/** Who may write and how much: checked before the clientId lookup, so a duplicate of a refused message is refused too. */
export function mayWrite(session: Session, caller: Caller, content: string, limits: Limits): SendError | { ok: true; author: Author } {
  let author: Author = "customer";
  if (session.userId !== caller.id) {
    if (caller.role !== "admin" || session.handler !== "human") {
      return { ok: false, code: "FORBIDDEN", error: "admins may write to another user's session only while a human holds it (hand it to a human first)" };
    }
    author = "staff";
  }
  const bytes = new TextEncoder().encode(content).byteLength;
  if (bytes > limits.MAX_CONTENT_BYTES) {
    return { ok: false, code: "PAYLOAD_TOO_LARGE", error: `content is ${bytes} bytes; the limit is ${limits.MAX_CONTENT_BYTES}` };
  }
  return { ok: true, author };
}

/** Whether a new (not duplicate) message is taken at `now`: the session is open and within its rate. */
export function admit(session: Session, tat: number, now: number, limits: Limits): Admission {
  if (session.status === "ended" || session.status === "expired" || Date.parse(session.expiresAt) <= now) {
    const status = session.status === "ended" ? "ended" : "expired";
    return { ok: false, code: "CONFLICT", error: `session is ${status}; it no longer accepts messages` };
  }
  const verdict = gcra(tat, now, { limit: limits.MESSAGE_RATE_PER_MINUTE, periodMs: 60_000, burst: limits.MESSAGE_BURST });
  if (!verdict.ok) return { ok: false, code: "TOO_MANY_REQUESTS", error: "message rate limit reached", retryAfterMs: verdict.retryAfterMs };
  return { ok: true, tat: verdict.tat };
}

/** A new message as stored: the next seq, every field the API shows. Staff replies are outgoing, signed by who wrote them. */
export function newMessage(session: Session, caller: Caller, input: SendInput, now: number, author: Author = "customer"): Message {
  return {
    id: crypto.randomUUID(),
    sessionId: session.id,
    seq: session.lastSeq + 1,
    clientId: input.clientId,
    userId: caller.id,
    direction: author === "customer" ? "incoming" : "outgoing",
    content: input.content,
    messageType: input.messageType,
    metadata: input.metadata,
    intent: null,
    entities: null,
    sentiment: null,
    confidence: null,
    agentInfo: author === "staff" ? { kind: "human", userId: caller.id } : null,
    processingMs: null,
    errorInfo: null,
    parentId: null,
    createdAt: new Date(now).toISOString(),
  };
}

/**
 * The session after `message` was stored: counters, activity, and a session that had gone idle or
 * been resolved is active again when the customer writes (`reactivated`: that change still has to
 * reach Postgres). An agent's late reply or a notice does not reopen a session someone resolved.
 */
export function afterMessage(session: Session, message: Message): { session: Session; reactivated: boolean } {
  const reactivated = message.direction === "incoming" && (session.status === "idle" || session.status === "resolved");
  return {
    reactivated,
    session: {
      ...session,
      lastSeq: message.seq,
      messageCount: session.messageCount + 1,
      lastActivityAt: message.createdAt,
      updatedAt: message.createdAt,
      ...(reactivated ? { status: "active" as const } : {}),
    },
  };
}
