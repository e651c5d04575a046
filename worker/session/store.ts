// The session's own SQLite storage: its metadata, recent messages (the replay window) and the outbox.
import type { DeadLetter } from "../../db/queries/dead-letters";
import type { Message, Session } from "../schemas";
import {
  messageColumnList as columns,
  messageFields,
  messageValues,
  outboxJsonObject,
  rawJsonObject,
  readableRow as readable,
  rowToMessage as toMessage,
  sqliteColumnDef,
  type MessageRow,
} from "../../db/message-row";

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
  /** The agent's own state for the session (sent to edge-chat agents, never shown to clients). */
  state?: Record<string, unknown>;
  /** Who handles the session, its agent type, context or state changed here: to be written to Postgres. */
  handlingDirty?: boolean;
  /** The origin requests reached this session on: where webhook agents call back (unless PUBLIC_URL is set). */
  origin?: string;
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


const placeholders = messageFields.map(() => "?").join(", ");

/** Messages kept in memory for agent requests (a history longer than this is read from storage). */
const RING = 64;

/** Messages held beyond the replay window before they are pruned (in one go). */
const PRUNE_CHUNK = 100;


export class SessionStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS messages (
        ${messageFields.map(sqliteColumnDef).join(",\n        ")},
        -- GCRA state after this message: the newest row carries the rate limiter's state.
        tat REAL NOT NULL);
      -- clientIds of held messages live on their row; those of pruned ones in client_ids.
      CREATE UNIQUE INDEX IF NOT EXISTS messages_client_id ON messages (client_id) WHERE client_id IS NOT NULL;
      CREATE TABLE IF NOT EXISTS client_ids (client_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
    `);
    // Objects created before a field was stored here get its column (nullable, so no default needed).
    const present = new Set(sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('messages')").toArray().map((r) => r.name));
    for (const f of messageFields) if (!present.has(f.column)) sql.exec(`ALTER TABLE messages ADD COLUMN ${sqliteColumnDef(f)}`);
  }

  private flushedCache: number | undefined;
  /** The newest messages, contiguous and ascending, in memory: agent requests read them on every turn (null: not loaded). */
  private ring: Message[] | null = null;
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
    // Sessions stored before handoffs existed are their agent's.
    meta.session = Object.assign({ handler: "agent", handlerUserId: null, handlerSince: null }, meta.session);
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
    const ring = this.ring;
    if (ring && ring.length > 0 && seq >= ring[0]!.seq && seq <= ring.at(-1)!.seq) return ring[seq - ring[0]!.seq]!;
    const row = this.sql.exec<MessageRow>(`SELECT ${columns} FROM messages WHERE seq = ?`, seq).toArray()[0];
    return row ? toMessage(row, this.sessionId()) : null;
  }

  /**
   * Stores a new message in the outbox, with the rate state after it: one row write per message.
   * It is durable once the current turn's writes commit.
   */
  append(m: Message, tat: number) {
    this.sql.exec(`INSERT INTO messages (${columns}, tat) VALUES (${placeholders}, ?)`, ...messageValues(m), tat);
    if (this.ring) {
      if (this.ring.length > 0 && this.ring.at(-1)!.seq !== m.seq - 1) this.ring = null;
      else {
        this.ring.push(m);
        if (this.ring.length > RING) this.ring.shift();
      }
    }
  }

  /** Messages with seq > `after`, ascending, at most `limit`. */
  after(after: number, limit: number): Message[] {
    const sessionId = this.sessionId();
    return this.sql
      .exec<MessageRow>(`SELECT ${columns} FROM messages WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
      .toArray()
      .map((r) => toMessage(r, sessionId));
  }

  /** The `limit` messages before seq `before`, ascending (those still held here). */
  recent(before: number, limit: number): Message[] {
    if (limit <= 0) return [];
    const sessionId = this.sessionId();
    this.ring ??= this.sql
      .exec<MessageRow>(`SELECT ${columns} FROM messages ORDER BY seq DESC LIMIT ?`, RING)
      .toArray()
      .reverse()
      .map((r) => toMessage(r, sessionId));
    const ring = this.ring;
    if (ring.length > 0 && ring[0]!.seq <= Math.max(1, before - limit) && ring.at(-1)!.seq >= before - 1) {
      return ring.filter((m) => m.seq < before).slice(-limit);
    }
    return this.sql
      .exec<MessageRow>(`SELECT ${columns} FROM messages WHERE seq < ? ORDER BY seq DESC LIMIT ?`, before, limit)
      .toArray()
      .reverse()
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
        `SELECT json_group_array(${outboxJsonObject}) FILTER (WHERE ok) AS json,
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
              `SELECT seq, id, ${rawJsonObject} AS payload
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
