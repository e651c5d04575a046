// Agent turns in the session object's storage: one row per turn (the durable job), its state machine,
// the webhook deliveries already seen, and the turns' audit rows for Postgres.
import type { TurnState } from "../../db/schema";
import { finalTurnStates } from "../shapes";
import type { StepResult } from "../agents/request";

export interface Turn {
  id: string;
  /** The agent type the turn calls (the session's, when the turn started). */
  agentType: string;
  state: TurnState;
  /** Attempts at the current step; `attempts` counts every attempt of the turn. */
  attempt: number;
  attempts: number;
  /** The pipeline step being called (0 for a single agent). */
  step: number;
  previous: StepResult[];
  /** The customer's messages the turn answers (several when merged), ascending. */
  messageSeqs: number[];
  /** The last of them: the stored reply's parentId. */
  parentId: string;
  /** What went wrong, in our words (shown to the session's sockets and in a failure notice). */
  error: string | null;
  /** What the agent itself said about it (a body, a message): for the audit trail only. */
  detail: string | null;
  /** Failed for good and kept for an admin to replay. */
  dead: boolean;
  createdAt: number;
  startedAt: number | null;
  ttfbMs: number | null;
  firstDeltaMs: number | null;
  totalMs: number | null;
  replySeq: number | null;
  /** When the live turn's timer is due: the call's watchdog, the callback deadline, or the next attempt. */
  dueAt: number | null;
  updatedAt: number;
}

/** A turn is live (holds the session's agent) in these states; one at a time per session. */
export const liveStates: readonly TurnState[] = ["calling", "streaming", "waiting_callback", "retry_wait"];
export const finalStates = finalTurnStates;

const transitions: Record<TurnState, readonly TurnState[]> = {
  queued: ["calling", "cancelled"],
  // "calling" again: the next pipeline step, or a new attempt after a restart interrupted this one.
  calling: ["calling", "streaming", "waiting_callback", "retry_wait", "done", "failed", "cancelled"],
  streaming: ["calling", "retry_wait", "done", "failed", "cancelled"],
  waiting_callback: ["calling", "retry_wait", "done", "failed", "cancelled"],
  retry_wait: ["calling", "failed", "cancelled"],
  done: [],
  // A dead letter replayed by an admin starts again.
  failed: ["queued"],
  cancelled: [],
};

export class IllegalTransition extends Error {
  override name = "IllegalTransition";
}

/** The turn in its next state (pure). Throws on a move the state machine does not allow. */
export function moveTurn(turn: Turn, to: TurnState, now: number, changes: Partial<Omit<Turn, "id" | "state">> = {}): Turn {
  if (!transitions[turn.state].includes(to)) throw new IllegalTransition(`turn ${turn.id}: ${turn.state} → ${to} is not allowed`);
  const next: Turn = { ...turn, ...changes, state: to, updatedAt: now };
  if (finalStates.includes(to) && next.startedAt !== null) next.totalMs = now - next.startedAt;
  return next;
}

/** How a turn looks on the wire (the `turn` frame). */
export function turnView(turn: Turn) {
  return {
    turnId: turn.id,
    state: turn.state,
    agentType: turn.agentType,
    attempt: turn.attempts,
    parentId: turn.parentId,
    ...(turn.replySeq !== null ? { replySeq: turn.replySeq } : {}),
    ...(turn.error !== null ? { error: turn.error } : {}),
  };
}

interface TurnRow extends Record<string, SqlStorageValue> {
  n: number;
  id: string;
  agent_type: string;
  state: string;
  attempt: number;
  attempts: number;
  step: number;
  previous: string;
  message_seqs: string;
  parent_id: string;
  error: string | null;
  detail: string | null;
  dead: number;
  created_at: number;
  started_at: number | null;
  ttfb_ms: number | null;
  first_delta_ms: number | null;
  total_ms: number | null;
  reply_seq: number | null;
  due_at: number | null;
  updated_at: number;
}

const fromRow = (r: TurnRow): Turn => ({
  id: r.id,
  agentType: r.agent_type,
  state: r.state as TurnState,
  attempt: r.attempt,
  attempts: r.attempts,
  step: r.step,
  previous: JSON.parse(r.previous) as StepResult[],
  messageSeqs: JSON.parse(r.message_seqs) as number[],
  parentId: r.parent_id,
  error: r.error,
  detail: r.detail,
  dead: r.dead === 1,
  createdAt: r.created_at,
  startedAt: r.started_at,
  ttfbMs: r.ttfb_ms,
  firstDeltaMs: r.first_delta_ms,
  totalMs: r.total_ms,
  replySeq: r.reply_seq,
  dueAt: r.due_at,
  updatedAt: r.updated_at,
});

/** Finished turns kept in the object (older ones are in Postgres's chat_turns). */
const KEEP_FINISHED = 200;
/** Webhook delivery ids remembered (a redelivery comes within minutes, not after this many more). */
const KEEP_DELIVERIES = 1_000;

export class TurnStore {
  /** Audit generation: a turn saved gets the next one; rows up to a written generation are clean. */
  private gen: number;
  /** The live turn as last saved (undefined: not read yet). Every write goes through save(), so it stays true. */
  private liveCache: Turn | null | undefined;
  /** Whether a queued turn may exist (false only once a read found none; a queued save sets it). */
  private mayHaveQueued = true;

  constructor(private readonly sql: SqlStorage) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS turns (
        n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, agent_type TEXT NOT NULL, state TEXT NOT NULL,
        attempt INTEGER NOT NULL, attempts INTEGER NOT NULL, step INTEGER NOT NULL, previous TEXT NOT NULL,
        message_seqs TEXT NOT NULL, parent_id TEXT NOT NULL, error TEXT, detail TEXT, dead INTEGER NOT NULL,
        created_at INTEGER NOT NULL, started_at INTEGER, ttfb_ms INTEGER, first_delta_ms INTEGER, total_ms INTEGER,
        reply_seq INTEGER, due_at INTEGER, updated_at INTEGER NOT NULL,
        -- 0: Postgres has this version of the row; otherwise the audit generation it was saved in.
        audit INTEGER NOT NULL DEFAULT 0);
      CREATE INDEX IF NOT EXISTS turns_state ON turns (state, n);
      CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, at INTEGER NOT NULL);
    `);
    // Objects whose turns table predates a column get it.
    const present = new Set(sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('turns')").toArray().map((r) => r.name));
    for (const column of ["due_at INTEGER", "detail TEXT"]) if (!present.has(column.split(" ")[0]!)) sql.exec(`ALTER TABLE turns ADD COLUMN ${column}`);
    this.gen = sql.exec<{ g: number | null }>("SELECT max(audit) AS g FROM turns").one().g ?? 0;
  }

  get(id: string): Turn | null {
    if (this.liveCache?.id === id) return this.liveCache;
    const row = this.sql.exec<TurnRow>("SELECT * FROM turns WHERE id = ?", id).toArray()[0];
    return row ? fromRow(row) : null;
  }

  /** The turn holding the session's agent, if any. */
  live(): Turn | null {
    if (this.liveCache !== undefined) return this.liveCache;
    const row = this.sql
      .exec<TurnRow>(`SELECT * FROM turns WHERE state IN (${liveStates.map(() => "?").join(", ")}) ORDER BY n LIMIT 1`, ...liveStates)
      .toArray()[0];
    this.liveCache = row ? fromRow(row) : null;
    return this.liveCache;
  }

  /** The oldest queued turn. */
  nextQueued(): Turn | null {
    if (!this.mayHaveQueued) return null;
    const row = this.sql.exec<TurnRow>("SELECT * FROM turns WHERE state = 'queued' ORDER BY n LIMIT 1").toArray()[0];
    if (!row) this.mayHaveQueued = false;
    return row ? fromRow(row) : null;
  }

  /** The newest turn answering the customer's message at `seq` (its own, or the one it was merged into). */
  forMessage(seq: number): Turn | null {
    const row = this.sql
      .exec<TurnRow>("SELECT turns.* FROM turns, json_each(turns.message_seqs) AS m WHERE m.value = ? ORDER BY turns.n DESC LIMIT 1", seq)
      .toArray()[0];
    return row ? fromRow(row) : null;
  }

  /** Whether some turn row has not reached Postgres in its current version. */
  unaudited(): boolean {
    return this.sql.exec("SELECT 1 FROM turns WHERE audit > 0 LIMIT 1").toArray().length > 0;
  }

  queued(): Turn[] {
    if (!this.mayHaveQueued) return [];
    return this.sql.exec<TurnRow>("SELECT * FROM turns WHERE state = 'queued' ORDER BY n").toArray().map(fromRow);
  }

  /** Saves a new or changed turn; with `audit` it reaches Postgres with the next flush. */
  save(t: Turn, audit = true) {
    if (audit) this.gen += 1;
    if (liveStates.includes(t.state)) this.liveCache = t;
    else if (this.liveCache?.id === t.id) this.liveCache = null;
    if (t.state === "queued") this.mayHaveQueued = true;
    this.sql.exec(
      `INSERT INTO turns (id, agent_type, state, attempt, attempts, step, previous, message_seqs, parent_id, error, detail, dead,
         created_at, started_at, ttfb_ms, first_delta_ms, total_ms, reply_seq, due_at, updated_at, audit)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET agent_type = excluded.agent_type, state = excluded.state, attempt = excluded.attempt,
         attempts = excluded.attempts, step = excluded.step, previous = excluded.previous, message_seqs = excluded.message_seqs,
         parent_id = excluded.parent_id, error = excluded.error, detail = excluded.detail, dead = excluded.dead, started_at = excluded.started_at,
         ttfb_ms = excluded.ttfb_ms, first_delta_ms = excluded.first_delta_ms, total_ms = excluded.total_ms,
         reply_seq = excluded.reply_seq, due_at = excluded.due_at, updated_at = excluded.updated_at,
         audit = CASE WHEN excluded.audit = 0 THEN turns.audit ELSE excluded.audit END`,
      t.id, t.agentType, t.state, t.attempt, t.attempts, t.step, JSON.stringify(t.previous), JSON.stringify(t.messageSeqs), t.parentId,
      t.error, t.detail, t.dead ? 1 : 0, t.createdAt, t.startedAt, t.ttfbMs, t.firstDeltaMs, t.totalMs, t.replySeq, t.dueAt, t.updatedAt, audit ? this.gen : 0,
    );
  }

  /** Whether a webhook delivery with this id was taken before. */
  deliveryTaken(id: string): boolean {
    return this.sql.exec("SELECT 1 FROM deliveries WHERE id = ?", id).toArray().length > 0;
  }

  /** Records a delivery as taken (the newest KEEP_DELIVERIES are remembered). */
  recordDelivery(id: string, now: number) {
    this.sql.exec("INSERT OR IGNORE INTO deliveries (id, at) VALUES (?, ?)", id, now);
    if (Math.random() < 0.01) {
      this.sql.exec("DELETE FROM deliveries WHERE id NOT IN (SELECT id FROM deliveries ORDER BY at DESC LIMIT ?)", KEEP_DELIVERIES);
    }
  }

  /** Turn rows Postgres does not have in their current version, as JSON for the outbox; null when none. */
  auditBatch(sessionId: string, limit: number): { json: string; gen: number } | null {
    const row = this.sql
      .exec<{ json: string; gen: number | null }>(
        `SELECT json_group_array(json_object('id', id, 'session_id', ?, 'agent_type', agent_type, 'message_id', parent_id,
           'state', state, 'attempts', attempts, 'reply_seq', reply_seq, 'ttfb_ms', ttfb_ms, 'first_delta_ms', first_delta_ms,
           'total_ms', total_ms, 'error', CASE WHEN detail IS NULL THEN error ELSE error || ': ' || detail END, 'dead_letter', json(CASE WHEN dead THEN 'true' ELSE 'false' END),
           'created_ms', created_at, 'updated_ms', updated_at)) AS json, max(audit) AS gen
         FROM (SELECT * FROM turns WHERE audit > 0 ORDER BY audit LIMIT ?)`,
        sessionId,
        limit,
      )
      .one();
    return row.gen === null ? null : { json: row.json, gen: row.gen };
  }

  /** Postgres has every turn row saved up to generation `gen`; finished turns beyond the last KEEP_FINISHED go. */
  audited(gen: number) {
    this.sql.exec("UPDATE turns SET audit = 0 WHERE audit > 0 AND audit <= ?", gen);
    this.sql.exec(
      `DELETE FROM turns WHERE audit = 0 AND state IN ('done', 'cancelled') AND n < (SELECT n FROM turns ORDER BY n DESC LIMIT 1 OFFSET ?)`,
      KEEP_FINISHED,
    );
  }
}
