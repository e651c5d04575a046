// Message queries: the session outbox's batch write, and history paging (keyset by seq, or offset).
import { and, asc, desc, eq, gt, isNotNull, lt, sql } from "drizzle-orm";
import { chatMessages, chatSessions } from "../schema";
import type { Database } from "./sessions";

export type NewMessageRow = typeof chatMessages.$inferInsert;

/**
 * Writes one outbox batch from a session's Durable Object, in one transaction: the messages (a row
 * already there, from a flush whose acknowledgement was lost, is skipped) and the session's summary.
 * `status` moves the session to active (from idle or resolved) or idle (from active) and never
 * overrides a status set since (ended, expired).
 */
export async function writeOutbox(
  db: Database,
  sessionId: string,
  rows: NewMessageRow[],
  status: "active" | "idle" | null,
) {
  return db.transaction(async (tx) => {
    const inserted = rows.length > 0
      ? await tx.insert(chatMessages).values(rows).onConflictDoNothing().returning({ seq: chatMessages.seq })
      : [];
    const lastSeq = Math.max(0, ...rows.map((r) => r.seq));
    const lastAt = rows.reduce<Date | null>((a, r) => (r.createdAt && (!a || r.createdAt > a) ? r.createdAt : a), null);
    const from = status === "active" ? sql`('idle', 'resolved')` : sql`('active')`;
    await tx
      .update(chatSessions)
      .set({
        lastSeq: sql`greatest(${chatSessions.lastSeq}, ${lastSeq})`,
        messageCount: sql`${chatSessions.messageCount} + ${inserted.length}`,
        ...(lastAt ? { lastActivityAt: sql`greatest(${chatSessions.lastActivityAt}, ${lastAt.toISOString()}::timestamptz)` } : {}),
        ...(status ? { status: sql`case when ${chatSessions.status} in ${from} then ${status} else ${chatSessions.status} end` } : {}),
        updatedAt: sql`now()`,
      })
      .where(eq(chatSessions.id, sessionId));
    return inserted.length;
  });
}

/** Every clientId a session has stored, for a Durable Object that lost its own storage. */
export async function sessionClientIds(db: Database, sessionId: string) {
  const rows = await db
    .select({ clientId: chatMessages.clientId, seq: chatMessages.seq })
    .from(chatMessages)
    .where(and(eq(chatMessages.sessionId, sessionId), isNotNull(chatMessages.clientId)));
  return rows as { clientId: string; seq: number }[];
}

export async function messageBySeq(db: Database, sessionId: string, seq: number) {
  const [row] = await db.select().from(chatMessages).where(and(eq(chatMessages.sessionId, sessionId), eq(chatMessages.seq, seq)));
  return row;
}

export interface HistoryQuery {
  limit: number;
  before?: number | undefined;
  after?: number | undefined;
  offset?: number | undefined;
}

/**
 * One page of a session's messages, ascending by seq.
 * - `after`: the next `limit` messages with seq > after; nextCursor continues with `after`.
 * - `offset`: `limit` messages from that position (old clients; slow deep into a long session).
 * - otherwise (`before`, or nothing = the newest): the `limit` messages just below `before`;
 *   nextCursor continues toward older messages with `before`.
 */
export async function messageHistory(db: Database, sessionId: string, q: HistoryQuery) {
  const bySession = eq(chatMessages.sessionId, sessionId);
  if (q.after !== undefined) {
    const rows = await db
      .select()
      .from(chatMessages)
      .where(and(bySession, gt(chatMessages.seq, q.after)))
      .orderBy(asc(chatMessages.seq))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    return { messages: page, nextCursor: rows.length > q.limit ? (page.at(-1)?.seq ?? null) : null };
  }
  if (q.offset !== undefined) {
    const rows = await db
      .select()
      .from(chatMessages)
      .where(bySession)
      .orderBy(asc(chatMessages.seq))
      .offset(q.offset)
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    return { messages: page, nextCursor: rows.length > q.limit ? q.offset + q.limit : null };
  }
  const rows = await db
    .select()
    .from(chatMessages)
    .where(q.before !== undefined ? and(bySession, lt(chatMessages.seq, q.before)) : bySession)
    .orderBy(desc(chatMessages.seq))
    .limit(q.limit + 1);
  const page = rows.slice(0, q.limit).reverse();
  return { messages: page, nextCursor: rows.length > q.limit ? (page[0]?.seq ?? null) : null };
}
