// Agent queries over the turns' audit trail: dead letters, per-agent health, and sessions waiting for a human.
import { and, asc, desc, eq, inArray, sql } from "drizzle-orm";
import { chatSessions, chatTurns } from "../schema";
import { sessionColumns, type Database } from "./sessions";

const turnColumns = {
  id: chatTurns.id,
  sessionId: chatTurns.sessionId,
  agentType: chatTurns.agentType,
  messageId: chatTurns.messageId,
  state: chatTurns.state,
  attempts: chatTurns.attempts,
  error: chatTurns.error,
  createdAt: chatTurns.createdAt,
  updatedAt: chatTurns.updatedAt,
};

/** Turns that failed for good and were not replayed, newest first; keyset on (updated_at, id). */
export async function listAgentDeadLetters(db: Database, input: { limit: number; before?: { at: Date; id: string } | undefined }) {
  const where = [eq(chatTurns.deadLetter, true)];
  if (input.before) where.push(sql`(${chatTurns.updatedAt}, ${chatTurns.id}) < (${input.before.at.toISOString()}::timestamptz, ${input.before.id}::uuid)`);
  const rows = await db
    .select(turnColumns)
    .from(chatTurns)
    .where(and(...where))
    .orderBy(desc(chatTurns.updatedAt), desc(chatTurns.id))
    .limit(input.limit + 1);
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  return { rows: page, next: rows.length > input.limit && last ? { at: last.updatedAt, id: last.id } : null };
}

export async function getTurn(db: Database, id: string) {
  const [row] = await db.select(turnColumns).from(chatTurns).where(eq(chatTurns.id, id));
  return row;
}

export interface AgentHealthRow {
  agentType: string;
  calls: number;
  failures: number;
  retriesPending: number;
  deadLetters: number;
  p50Ms: number | null;
  p95Ms: number | null;
  firstDeltaP50Ms: number | null;
  lastError: string | null;
  lastErrorAt: Date | null;
}

/** Per agent type, over the turns updated since `since`. */
export async function agentHealth(db: Database, since: Date): Promise<AgentHealthRow[]> {
  const result = (await db.execute(sql`
    select agent_type as "agentType",
      sum(attempts)::int as calls,
      count(*) filter (where state = 'failed')::int as failures,
      count(*) filter (where state = 'retry_wait')::int as "retriesPending",
      count(*) filter (where dead_letter)::int as "deadLetters",
      percentile_cont(0.5) within group (order by total_ms) filter (where state = 'done') as "p50Ms",
      percentile_cont(0.95) within group (order by total_ms) filter (where state = 'done') as "p95Ms",
      percentile_cont(0.5) within group (order by first_delta_ms) as "firstDeltaP50Ms",
      (array_agg(error order by updated_at desc) filter (where error is not null and state <> 'cancelled'))[1] as "lastError",
      max(updated_at) filter (where error is not null and state <> 'cancelled') as "lastErrorAt"
    from ${chatTurns}
    where updated_at >= ${since.toISOString()}::timestamptz
    group by agent_type
    order by agent_type`)) as unknown as { rows: Record<string, unknown>[] };
  const num = (v: unknown) => (v === null || v === undefined ? null : Math.round(Number(v)));
  return result.rows.map((r) => ({
    agentType: String(r.agentType),
    calls: Number(r.calls),
    failures: Number(r.failures),
    retriesPending: Number(r.retriesPending),
    deadLetters: Number(r.deadLetters),
    p50Ms: num(r.p50Ms),
    p95Ms: num(r.p95Ms),
    firstDeltaP50Ms: num(r.firstDeltaP50Ms),
    lastError: r.lastError === null ? null : String(r.lastError),
    lastErrorAt: r.lastErrorAt ? new Date(r.lastErrorAt as string) : null,
  }));
}

/** Open (active or idle) sessions a human holds, longest-waiting first. */
export async function waitingSessions(db: Database, limit: number) {
  return db
    .select(sessionColumns)
    .from(chatSessions)
    .where(and(eq(chatSessions.handler, "human"), inArray(chatSessions.status, ["active", "idle"])))
    .orderBy(asc(chatSessions.handlerSince), asc(chatSessions.id))
    .limit(limit);
}
