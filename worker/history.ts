// Read-your-writes history: Postgres pages merged with what the session's object has not flushed yet.
import { TRPCError } from "@trpc/server";
import { messageHistory, type HistoryQuery } from "../db/queries/messages";
import type { Db } from "./db";
import { toMessage, type Message, type Session } from "./schemas";
import { sessionStub } from "./session";
import type { Pending } from "./session/contract";
import { loggable } from "./errors";

export type { Pending };

/**
 * The session object's unflushed messages (null when it holds no state). When the object cannot be
 * asked, the read fails with 503: a page without them would silently leave out acknowledged messages.
 */
export async function pendingFor(env: Env, sessionId: string): Promise<Pending | null> {
  try {
    return (await sessionStub(env, sessionId).pending(sessionId)) as Pending | null;
  } catch (err) {
    console.error(`session ${sessionId}: could not read pending messages`, loggable(err));
    throw new TRPCError({ code: "SERVICE_UNAVAILABLE", message: "the session's live state is unavailable; retry shortly", cause: err });
  }
}

/** A session as its object knows it: counters and a status change Postgres may not have yet. */
export function withPending(session: Session, pending: Pending | null): Session {
  if (!pending) return session;
  let merged = session;
  if (pending.lastSeq > session.lastSeq) {
    merged = { ...merged, lastSeq: pending.lastSeq, messageCount: pending.messageCount, lastActivityAt: pending.lastActivityAt };
  }
  if (pending.status && pending.status.status !== session.status && session.status !== "ended" && session.status !== "expired") {
    merged = { ...merged, status: pending.status.status, updatedAt: pending.status.updatedAt };
  }
  if (pending.handling) merged = { ...merged, ...pending.handling };
  return merged;
}

/** One page of history (see messageHistory for the paging rules) including unflushed messages. */
export async function historyPage(
  db: Db,
  sessionId: string,
  q: HistoryQuery,
  pending: Pending | null,
): Promise<{ messages: Message[]; nextCursor: number | null }> {
  const unflushed = pending?.messages ?? [];
  if (unflushed.length === 0) {
    const page = await messageHistory(db, sessionId, q);
    return { messages: page.messages.map(toMessage), nextCursor: page.nextCursor };
  }
  // Seqs are gap-free from 1, so an offset is the same position as `after: offset`.
  if (q.offset !== undefined) {
    const page = await historyPage(db, sessionId, { limit: q.limit, after: q.offset }, pending);
    return { messages: page.messages, nextCursor: page.nextCursor === null ? null : q.offset + q.limit };
  }
  const page = await messageHistory(db, sessionId, q);
  const bySeq = new Map<number, Message>(page.messages.map((m) => [m.seq, toMessage(m)]));
  const forward = q.after !== undefined;
  for (const m of unflushed) {
    const inRange = forward ? m.seq > q.after! : q.before === undefined || m.seq < q.before;
    if (inRange) bySeq.set(m.seq, m);
  }
  // Take the `limit` nearest the cursor: lowest seqs going forward, highest going backward.
  const sorted = [...bySeq.values()].sort((a, b) => (forward ? a.seq - b.seq : b.seq - a.seq));
  const messages = sorted.slice(0, q.limit);
  const more = sorted.length > q.limit || page.nextCursor !== null;
  if (!forward) messages.reverse();
  const edge = forward ? messages.at(-1) : messages[0];
  return { messages, nextCursor: more && edge ? edge.seq : null };
}
