// Message queries: the session outbox's batch write, and history paging (keyset by seq, or offset).
import { and, asc, desc, eq, gt, isNotNull, lt, sql } from "drizzle-orm";
import { chatMessages, chatSessions, chatTurns } from "../schema";
import { pgInsertColumns, pgRecordColumns, pgSelectExpressions } from "../message-row";
import type { Database } from "./sessions";

/** One session's outbox batch: its messages as a JSON array, and a status change to record. */
export interface OutboxItem {
  sessionId: string;
  /** JSON array of rows (see SessionStore.outboxBatch), each with its session_id. */
  rows: string;
  /** Moves the session to active (from idle or resolved) or idle (from active); never overrides ended/expired. */
  status: "active" | "idle" | null;
  /** When the object made that change (ms since epoch). */
  statusAt: number;
  /** What the object owns about the session (who handles it, its agent type, context, state), when it changed. */
  handling?: SessionHandling | null;
  /** JSON array of the session's agent turn rows that changed (see TurnStore.auditBatch). */
  turns?: string;
}

export interface SessionHandling {
  agent_type: string;
  handler: string;
  handler_user_id: string | null;
  handler_since_ms: number | null;
  context: Record<string, unknown>;
  state: Record<string, unknown>;
}

/**
 * Writes the outbox batches of many sessions in a single statement (atomic, one round trip): the
 * messages (a row already there, from a flush whose answer was lost, is skipped by the unique
 * (session_id, seq)) and each session's summary. Returns the rows inserted per item, in order.
 */
export async function writeOutboxes(db: Database, items: OutboxItem[]): Promise<number[]> {
  const rows = `[${items.map((i) => i.rows.slice(1, -1)).filter((r) => r.length > 0).join(",")}]`;
  const sessions = JSON.stringify(
    items.map((i) => ({
      session_id: i.sessionId, status: i.status, status_ms: i.statusAt, from_statuses: i.status === "active" ? "{idle,resolved}" : "{active}",
      handling: i.handling ?? null,
    })),
  );
  const turns = `[${items.map((i) => (i.turns ?? "[]").slice(1, -1)).filter((r) => r.length > 0).join(",")}]`;
  const result = (await db.execute(sql`
    with batch as (
      select * from json_to_recordset(${rows}::json) as b(${sql.raw(pgRecordColumns)})
    ), sess as (
      select * from json_to_recordset(${sessions}::json) as s(session_id uuid, status text, status_ms bigint, from_statuses text[], handling jsonb)
    ), turn_rows as (
      select * from json_to_recordset(${turns}::json) as t(
        id uuid, session_id uuid, agent_type text, message_id uuid, state text, attempts integer, reply_seq integer, ttfb_ms integer,
        first_delta_ms integer, total_ms integer, error text, dead_letter boolean, created_ms bigint, updated_ms bigint)
    ), turns_written as (
      -- The audit trail: a turn's row follows it (never back to an older version).
      insert into ${chatTurns} (id, session_id, agent_type, message_id, state, attempts, reply_seq, ttfb_ms, first_delta_ms, total_ms, error, dead_letter, created_at, updated_at)
      select id, session_id, agent_type, message_id, state, attempts, reply_seq, ttfb_ms, first_delta_ms, total_ms, error, dead_letter,
             to_timestamp(created_ms / 1000.0), to_timestamp(updated_ms / 1000.0)
      from turn_rows
      on conflict (id) do update set agent_type = excluded.agent_type, state = excluded.state, attempts = excluded.attempts,
        reply_seq = excluded.reply_seq, ttfb_ms = excluded.ttfb_ms, first_delta_ms = excluded.first_delta_ms, total_ms = excluded.total_ms,
        error = excluded.error, dead_letter = excluded.dead_letter, updated_at = excluded.updated_at
      where ${chatTurns}.updated_at <= excluded.updated_at
      returning 1
    ), ins as (
      insert into ${chatMessages} (${sql.raw(pgInsertColumns)})
      select ${sql.raw(pgSelectExpressions)}
      from batch
      on conflict do nothing
      returning session_id
    ), counts as (
      select session_id, count(*)::int as n from ins group by session_id
    ), agg as (
      select session_id, max(seq) as max_seq, to_timestamp(max(created_at) / 1000.0) as last_at from batch group by session_id
    ), upd as (
      update ${chatSessions} c set
        last_seq = greatest(c.last_seq, coalesce(agg.max_seq, 0)),
        message_count = c.message_count + coalesce(counts.n, 0),
        last_activity_at = greatest(c.last_activity_at, coalesce(agg.last_at, c.last_activity_at)),
        -- The object's change applies unless Postgres saw a newer one: a resolve after the message
        -- that woke the session, or a resume after the object decided the session was idle.
        status = case
          when s.status is null or not (c.status = any(s.from_statuses)) then c.status
          when s.status = 'active' and c.status = 'resolved' and c.resolved_at > to_timestamp(s.status_ms / 1000.0) then c.status
          when s.status = 'idle' and c.last_activity_at > to_timestamp(s.status_ms / 1000.0) then c.status
          else s.status end,
        -- The object owns these once it has the session: its latest values win.
        agent_type = coalesce(s.handling->>'agent_type', c.agent_type),
        handler = coalesce(s.handling->>'handler', c.handler),
        handler_user_id = case when s.handling is null then c.handler_user_id else s.handling->>'handler_user_id' end,
        handler_since = case when s.handling is null then c.handler_since
          else to_timestamp((s.handling->>'handler_since_ms')::bigint / 1000.0) end,
        context = coalesce(s.handling->'context', c.context),
        state = coalesce(s.handling->'state', c.state),
        updated_at = now()
      from sess s
      left join agg on agg.session_id = s.session_id
      left join counts on counts.session_id = s.session_id
      where c.id = s.session_id
      returning c.id
    )
    select s.session_id, coalesce(counts.n, 0)::int as inserted, (select count(*) from upd)::int as updated
    from sess s left join counts on counts.session_id = s.session_id`)) as unknown as { rows: { session_id: string; inserted: number }[] };
  const bySession = new Map(result.rows.map((r) => [r.session_id, Number(r.inserted)]));
  return items.map((i) => bySession.get(i.sessionId) ?? 0);
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
