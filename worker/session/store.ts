// The session's own SQLite storage: its metadata, recent messages (the replay window) and the outbox.
import type { DeadLetter } from "../../db/queries/dead-letters";
import type { Message, Session } from "../schemas";

export interface Meta {
  /**
   * The last known full session, kept current in memory as messages arrive. Stored when the session
   * changes; the per-message counters (lastSeq, messageCount, lastActivityAt) and `tat` are stored
   * with each message instead and restored from the newest one on load.
   */
  session: Session;
  /** GCRA state of the session's message rate. */
  tat: number;
  /** Consecutive failed outbox flushes (drives the backoff). */
  flushAttempts: number;
  /** The status in `session` still has to be written to Postgres. */
  statusDirty: boolean;
  /** When this object set that status (ms): Postgres takes it only if nothing newer happened there. */
  statusAt?: number | null;
}

interface MessageRow extends Record<string, SqlStorageValue> {
  seq: number;
  id: string;
  client_id: string | null;
  user_id: string;
  direction: string;
  content: string;
  message_type: string;
  metadata: string;
  agent_info: string | null;
  parent_id: string | null;
  created_at: number;
}

/** One outbox batch, serialised by SQLite itself as the JSON Postgres reads it with json_to_recordset. */
export interface OutboxBatch {
  json: string;
  /** The highest seq the batch covers, and how many rows it covers (those in `dead` included). */
  last: number;
  count: number;
  /** Rows that cannot be serialised, to be set aside as dead letters (normally none). */
  dead: DeadLetter[];
}

/** SQL: the row's JSON columns are readable (SQLite refuses JSON nested over 1,000 levels, for one). */
const readable = "(json_valid(metadata) AND (agent_info IS NULL OR json_valid(agent_info)))";

/** Messages held beyond the replay window before they are pruned (in one go). */
const PRUNE_CHUNK = 100;

const columns = "seq, id, client_id, user_id, direction, content, message_type, metadata, agent_info, parent_id, created_at";

export class SessionStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS messages (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL, client_id TEXT, user_id TEXT NOT NULL,
        direction TEXT NOT NULL, content TEXT NOT NULL, message_type TEXT NOT NULL,
        metadata TEXT NOT NULL, agent_info TEXT, parent_id TEXT, created_at INTEGER NOT NULL,
        -- GCRA state after this message: the newest row carries the rate limiter's state.
        tat REAL NOT NULL);
      -- clientIds of held messages live on their row; those of pruned ones in client_ids.
      CREATE UNIQUE INDEX IF NOT EXISTS messages_client_id ON messages (client_id) WHERE client_id IS NOT NULL;
      CREATE TABLE IF NOT EXISTS client_ids (client_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
    `);
  }

  private flushedCache: number | undefined;
  private oldestCache: number | null | undefined;

  /** Every message with seq <= this is in Postgres (seqs flush in order, so one watermark says it). */
  flushedThrough(): number {
    if (this.flushedCache !== undefined) return this.flushedCache;
    const row = this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'flushed'").toArray()[0];
    // Never stored: assume nothing held is in Postgres yet (a re-sent row is skipped there).
    this.flushedCache = row ? Number(row.v) : this.sql.exec<{ s: number }>("SELECT coalesce(min(seq) - 1, 0) AS s FROM messages").one().s;
    return this.flushedCache;
  }

  loadMeta(): Meta | null {
    const row = this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'meta'").toArray()[0];
    if (!row) return null;
    const meta = JSON.parse(row.v) as Meta;
    // Messages stored since the meta row was written carry the current counters.
    const last = this.sql
      .exec<{ seq: number; created_at: number; tat: number }>("SELECT seq, created_at, tat FROM messages ORDER BY seq DESC LIMIT 1")
      .toArray()[0];
    if (last && last.seq > meta.session.lastSeq) {
      const lastActivityAt = new Date(last.created_at).toISOString();
      meta.session = {
        ...meta.session,
        messageCount: meta.session.messageCount + (last.seq - meta.session.lastSeq),
        lastSeq: last.seq,
        lastActivityAt,
        updatedAt: lastActivityAt > meta.session.updatedAt ? lastActivityAt : meta.session.updatedAt,
      };
      meta.tat = last.tat;
    }
    return meta;
  }

  saveMeta(meta: Meta) {
    this.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('meta', ?)", JSON.stringify(meta));
  }

  /** The seq a clientId was stored under, if it was. */
  seqForClientId(clientId: string): number | null {
    const row = this.sql
      .exec<{ seq: number }>("SELECT seq FROM messages WHERE client_id = ?1 UNION ALL SELECT seq FROM client_ids WHERE client_id = ?1 LIMIT 1", clientId)
      .toArray()[0];
    return row?.seq ?? null;
  }

  importClientIds(rows: { clientId: string; seq: number }[]) {
    for (const r of rows) this.sql.exec("INSERT OR IGNORE INTO client_ids (client_id, seq) VALUES (?, ?)", r.clientId, r.seq);
  }

  message(seq: number): Message | null {
    const row = this.sql.exec<MessageRow>(`SELECT ${columns} FROM messages WHERE seq = ?`, seq).toArray()[0];
    return row ? toMessage(row, this.sessionId()) : null;
  }

  /**
   * Stores a new message in the outbox, with the rate state after it: one row write per message.
   * It is durable once the current turn's writes commit.
   */
  append(m: Message, tat: number) {
    this.sql.exec(
      `INSERT INTO messages (${columns}, tat) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      m.seq, m.id, m.clientId, m.userId, m.direction, m.content, m.messageType,
      JSON.stringify(m.metadata), m.agentInfo ? JSON.stringify(m.agentInfo) : null, m.parentId, Date.parse(m.createdAt), tat,
    );
  }

  /** Messages with seq > `after`, ascending, at most `limit`. */
  after(after: number, limit: number): Message[] {
    const sessionId = this.sessionId();
    return this.sql
      .exec<MessageRow>(`SELECT ${columns} FROM messages WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
      .toArray()
      .map((r) => toMessage(r, sessionId));
  }

  /** The lowest seq still held here (older ones were pruned after reaching Postgres). */
  oldestSeq(): number | null {
    return this.sql.exec<{ s: number | null }>("SELECT min(seq) AS s FROM messages").one().s;
  }

  unflushed(limit: number): Message[] {
    const sessionId = this.sessionId();
    return this.sql
      .exec<MessageRow>(`SELECT ${columns} FROM messages WHERE seq > ? ORDER BY seq LIMIT ?`, this.flushedThrough(), limit)
      .toArray()
      .map((r) => toMessage(r, sessionId));
  }

  /**
   * The next outbox batch as JSON built by SQLite (no per-row work in JavaScript); null when empty.
   * A row whose stored JSON SQLite cannot read (nested past its limit, written before limits were
   * enforced) is not left to fail the batch: it comes back in `dead`, to be set aside.
   */
  outboxBatch(limit: number): OutboxBatch | null {
    const sessionId = this.sessionId();
    const row = this.sql
      .exec<{ json: string | null; last: number | null; count: number; bad: number }>(
        `SELECT json_group_array(json_object(
           'session_id', ?, 'id', id, 'seq', seq, 'client_id', client_id, 'user_id', user_id, 'direction', direction,
           'content', content, 'message_type', message_type, 'metadata', json(metadata),
           'agent_info', json(agent_info), 'parent_id', parent_id, 'created_ms', created_at)) FILTER (WHERE ok) AS json,
           max(seq) AS last, count(*) AS count, count(*) - count(*) FILTER (WHERE ok) AS bad
         FROM (SELECT *, ${readable} AS ok FROM messages WHERE seq > ? ORDER BY seq LIMIT ?)`,
        sessionId,
        this.flushedThrough(),
        limit,
      )
      .one();
    if (row.count === 0 || row.last === null) return null;
    const dead =
      row.bad === 0
        ? []
        : this.sql
            .exec<{ seq: number; id: string; payload: string }>(
              `SELECT seq, id, json_object('seq', seq, 'id', id, 'client_id', client_id, 'user_id', user_id, 'direction', direction,
                 'content', content, 'message_type', message_type, 'metadata', metadata, 'agent_info', agent_info,
                 'parent_id', parent_id, 'created_ms', created_at) AS payload
               FROM messages WHERE seq > ? AND seq <= ? AND NOT ${readable} ORDER BY seq`,
              this.flushedThrough(),
              row.last,
            )
            .toArray()
            .map((r) => ({ sessionId, seq: r.seq, messageId: r.id, error: "the stored metadata is not readable JSON", payload: r.payload }));
    return { json: row.json ?? "[]", last: row.last, count: row.count, dead };
  }

  /**
   * Records that everything through `last` is in Postgres and drops what fell out of the replay
   * window. The watermark is kept in memory and stored only now and then (`persist`, or when
   * pruning): a stale stored watermark after a restart only means some rows are written again,
   * which Postgres skips (unique session_id, seq). That saves a storage commit per flush.
   */
  markFlushed(last: number, keepFrom: number, persist = false) {
    this.flushedCache = last;
    const pruneBelow = Math.min(keepFrom, last + 1);
    this.oldestCache ??= this.oldestSeq();
    // Prune in chunks, not on every flush.
    const prune = this.oldestCache !== null && this.oldestCache <= pruneBelow - PRUNE_CHUNK;
    if (persist || prune) this.persistFlushed();
    if (!prune) return;
    this.oldestCache = pruneBelow;
    // Pruned messages keep their clientId, so a late retry is still recognised.
    this.sql.exec(
      "INSERT OR IGNORE INTO client_ids (client_id, seq) SELECT client_id, seq FROM messages WHERE seq < ? AND client_id IS NOT NULL",
      pruneBelow,
    );
    this.sql.exec("DELETE FROM messages WHERE seq < ?", pruneBelow);
  }

  /** Stores the in-memory watermark (see markFlushed). */
  persistFlushed() {
    if (this.flushedCache === undefined) return;
    this.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('flushed', ?)", String(this.flushedCache));
  }

  private sessionIdCache: string | undefined;
  private sessionId(): string {
    return (this.sessionIdCache ??= this.loadMeta()?.session.id ?? "");
  }
}

function toMessage(r: MessageRow, sessionId: string): Message {
  return {
    id: r.id,
    sessionId,
    seq: r.seq,
    clientId: r.client_id,
    userId: r.user_id,
    direction: r.direction as Message["direction"],
    content: r.content,
    messageType: r.message_type,
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    intent: null,
    entities: null,
    sentiment: null,
    confidence: null,
    agentInfo: r.agent_info ? (JSON.parse(r.agent_info) as Record<string, unknown>) : null,
    processingMs: null,
    errorInfo: null,
    parentId: r.parent_id,
    createdAt: new Date(r.created_at).toISOString(),
  };
}
