// Session queries: plain functions over a Drizzle database, used by the routers and the cron sweep.
import { and, asc, desc, eq, getTableColumns, inArray, lte, lt, sql, type SQL } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { chatMessages, chatSessions, type SessionStatus } from "../schema";

// Any Drizzle Postgres database or transaction (Neon in the Worker, node-postgres or PGlite in scripts).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Database = PgDatabase<PgQueryResultHKT, any>;

const { state: _state, ...sessionColumns } = getTableColumns(chatSessions);
export { sessionColumns };

export type SessionListType = "active" | "unresolved" | "recent";

const listStatuses: Record<SessionListType, SessionStatus[]> = {
  active: ["active"],
  unresolved: ["active", "idle"],
  recent: ["active", "idle", "resolved", "expired"],
};
const openStatuses: SessionStatus[] = ["active", "idle"];

export const SESSION_LIMIT_REASON = "session_limit_exceeded";

export async function getSession(db: Database, id: string) {
  const [row] = await db.select(sessionColumns).from(chatSessions).where(eq(chatSessions.id, id));
  return row;
}

/** The agent's own state for a session (kept out of the session's JSON). */
export async function agentState(db: Database, id: string): Promise<Record<string, unknown>> {
  const [row] = await db.select({ state: chatSessions.state }).from(chatSessions).where(eq(chatSessions.id, id));
  return row?.state ?? {};
}

/**
 * Ends the oldest open sessions of (user, agent type) beyond `max`, keeping `keepId`.
 * Runs inside the caller's transaction after an advisory lock on (user, agent type), so two
 * concurrent creates cannot both slip under the limit.
 */
async function enforceOpenLimit(tx: Database, userId: string, agentType: string, max: number, keepId: string) {
  const open = await tx
    .select({ id: chatSessions.id })
    .from(chatSessions)
    .where(
      and(
        eq(chatSessions.userId, userId),
        eq(chatSessions.agentType, agentType),
        inArray(chatSessions.status, openStatuses),
      ),
    )
    .orderBy(desc(sql`${chatSessions.id} = ${keepId}`), desc(chatSessions.lastActivityAt), desc(chatSessions.createdAt));
  const excess = open.slice(max).map((r) => r.id);
  if (excess.length === 0) return [];
  return tx
    .update(chatSessions)
    .set({ status: "ended", endedAt: sql`now()`, endedReason: SESSION_LIMIT_REASON, updatedAt: sql`now()` })
    .where(inArray(chatSessions.id, excess))
    .returning(sessionColumns);
}

const lockOpenSessions = (tx: Database, userId: string, agentType: string) =>
  tx.execute(sql`select pg_advisory_xact_lock(hashtext(${userId}), hashtext(${agentType}))`);

export async function createSession(
  db: Database,
  input: {
    id: string;
    userId: string;
    agentType: string;
    title: string | null;
    metadata: Record<string, unknown>;
    ttlMs: number;
    maxOpen: number;
  },
) {
  return db.transaction(async (tx) => {
    await lockOpenSessions(tx, input.userId, input.agentType);
    const [session] = await tx
      .insert(chatSessions)
      .values({
        id: input.id,
        userId: input.userId,
        agentType: input.agentType,
        title: input.title,
        metadata: input.metadata,
        expiresAt: new Date(Date.now() + input.ttlMs),
      })
      .returning(sessionColumns);
    if (!session) throw new Error("insert returned no row");
    const ended = await enforceOpenLimit(tx, input.userId, input.agentType, input.maxOpen, session.id);
    return { session, ended };
  });
}

type SessionPatch = Partial<
  Pick<typeof chatSessions.$inferInsert, "title" | "status" | "resolvedAt" | "resolutionNotes" | "endedAt" | "endedReason" | "lastActivityAt">
>;

/** Applies a patch when `guard` holds; returns the updated row, or undefined when the guard failed. */
export async function updateSession(db: Database, id: string, patch: SessionPatch, guard?: SQL) {
  const [row] = await db
    .update(chatSessions)
    .set({ ...patch, updatedAt: sql`now()` })
    .where(guard ? and(eq(chatSessions.id, id), guard) : eq(chatSessions.id, id))
    .returning(sessionColumns);
  return row;
}

/** Makes an idle or resolved session active again (an active one stays so, its idle clock restarted), within the open-sessions limit. */
export async function reactivateSession(db: Database, session: { id: string; userId: string; agentType: string }, maxOpen: number) {
  return db.transaction(async (tx) => {
    await lockOpenSessions(tx, session.userId, session.agentType);
    const row = await updateSession(
      tx,
      session.id,
      // Resuming is activity: the idle clock (here and in the session's object) restarts now.
      { status: "active", lastActivityAt: new Date() },
      and(inArray(chatSessions.status, ["idle", "resolved", "active"]), sql`${chatSessions.expiresAt} > now()`),
    );
    if (!row) return undefined;
    const ended = await enforceOpenLimit(tx, session.userId, session.agentType, maxOpen, session.id);
    return { session: row, ended };
  });
}

export interface ListCursor {
  at: Date;
  id: string;
}

export function encodeListCursor(c: ListCursor): string {
  return btoa(`${c.at.toISOString()}|${c.id}`).replace(/=+$/, "");
}

/**
 * The cursor, or null when it is not one this API issued: the id must be a UUID and the date an
 * ISO 8601 instant Postgres can hold (cursors are made from activity times, 1970 to 9999 is ample).
 */
export function decodeListCursor(s: string): ListCursor | null {
  let decoded: string;
  try {
    decoded = atob(s);
  } catch {
    return null;
  }
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i.exec(decoded);
  if (!match) return null;
  const at = new Date(match[1]!);
  if (Number.isNaN(at.getTime()) || at.getUTCFullYear() < 1970 || at.toISOString() !== match[1]) return null;
  return { at, id: match[2]!.toLowerCase() };
}

export async function listSessions(
  db: Database,
  input: { userId: string; type: SessionListType; limit: number; cursor: ListCursor | null },
) {
  const where = [eq(chatSessions.userId, input.userId), inArray(chatSessions.status, listStatuses[input.type])];
  if (input.cursor) {
    where.push(sql`(${chatSessions.lastActivityAt}, ${chatSessions.id}) < (${input.cursor.at.toISOString()}::timestamptz, ${input.cursor.id}::uuid)`);
  }
  const rows = await db
    .select({
      ...sessionColumns,
      lastMessage: sql<{ seq: number; direction: "incoming" | "outgoing" | "system"; content: string; createdAt: string } | null>`
        case when ${chatMessages.id} is null then null else json_build_object(
          'seq', ${chatMessages.seq}, 'direction', ${chatMessages.direction},
          'content', left(${chatMessages.content}, 200),
          'createdAt', to_char(${chatMessages.createdAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) end`,
    })
    .from(chatSessions)
    .leftJoin(chatMessages, and(eq(chatMessages.sessionId, chatSessions.id), eq(chatMessages.seq, chatSessions.lastSeq)))
    .where(and(...where))
    .orderBy(desc(chatSessions.lastActivityAt), desc(chatSessions.id))
    .limit(input.limit + 1);
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  const nextCursor = rows.length > input.limit && last ? encodeListCursor({ at: last.lastActivityAt, id: last.id }) : null;
  return { rows: page, nextCursor };
}

/** The cron sweep: expire sessions past their time, then mark quiet active ones idle. */
export async function sweepSessions(db: Database, idleMinutes: number) {
  const expired = await db
    .update(chatSessions)
    .set({ status: "expired", endedAt: sql`now()`, endedReason: "expired", updatedAt: sql`now()` })
    .where(and(inArray(chatSessions.status, ["active", "idle", "resolved"]), lte(chatSessions.expiresAt, sql`now()`)))
    .returning(sessionColumns);
  const idled = await db
    .update(chatSessions)
    .set({ status: "idle", updatedAt: sql`now()` })
    .where(
      and(
        eq(chatSessions.status, "active"),
        lt(chatSessions.lastActivityAt, sql`now() - make_interval(mins => ${idleMinutes})`),
      ),
    )
    .returning(sessionColumns);
  return { expired, idled };
}

export async function userStats(db: Database, userId: string) {
  const [bySession, byDirection] = await Promise.all([
    db
      .select({
        status: chatSessions.status,
        agentType: chatSessions.agentType,
        sessions: sql<number>`count(*)::int`,
        messages: sql<number>`coalesce(sum(${chatSessions.messageCount}), 0)::int`,
      })
      .from(chatSessions)
      .where(eq(chatSessions.userId, userId))
      .groupBy(chatSessions.status, chatSessions.agentType)
      .orderBy(asc(chatSessions.status), asc(chatSessions.agentType)),
    db
      .select({ direction: chatMessages.direction, messages: sql<number>`count(*)::int` })
      .from(chatMessages)
      .innerJoin(chatSessions, eq(chatSessions.id, chatMessages.sessionId))
      .where(eq(chatSessions.userId, userId))
      .groupBy(chatMessages.direction),
  ]);
  return { bySession, byDirection };
}
