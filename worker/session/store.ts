// The session's own SQLite storage: its metadata, recent messages (the replay window) and the outbox.
import type { Message, Session } from "../schemas";

export interface Meta {
  /** The last known full session, kept current as messages arrive and the session changes. */
  session: Session;
  /** GCRA state of the session's message rate. */
  tat: number;
  /** Consecutive failed outbox flushes (drives the backoff). */
  flushAttempts: number;
  /** The status in `session` still has to be written to Postgres. */
  statusDirty: boolean;
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

const columns = "seq, id, client_id, user_id, direction, content, message_type, metadata, agent_info, parent_id, created_at";

export class SessionStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS messages (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL, client_id TEXT, user_id TEXT NOT NULL,
        direction TEXT NOT NULL, content TEXT NOT NULL, message_type TEXT NOT NULL,
        metadata TEXT NOT NULL, agent_info TEXT, parent_id TEXT, created_at INTEGER NOT NULL,
        flushed INTEGER NOT NULL DEFAULT 0);
      CREATE INDEX IF NOT EXISTS messages_outbox ON messages (seq) WHERE flushed = 0;
      CREATE TABLE IF NOT EXISTS client_ids (client_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
    `);
  }

  loadMeta(): Meta | null {
    const row = this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'meta'").toArray()[0];
    return row ? (JSON.parse(row.v) as Meta) : null;
  }

  saveMeta(meta: Meta) {
    this.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('meta', ?)", JSON.stringify(meta));
  }

  /** The seq a clientId was stored under, if it was. */
  seqForClientId(clientId: string): number | null {
    const row = this.sql.exec<{ seq: number }>("SELECT seq FROM client_ids WHERE client_id = ?", clientId).toArray()[0];
    return row?.seq ?? null;
  }

  importClientIds(rows: { clientId: string; seq: number }[]) {
    for (const r of rows) this.sql.exec("INSERT OR IGNORE INTO client_ids (client_id, seq) VALUES (?, ?)", r.clientId, r.seq);
  }

  message(seq: number): Message | null {
    const row = this.sql.exec<MessageRow>(`SELECT ${columns} FROM messages WHERE seq = ?`, seq).toArray()[0];
    return row ? toMessage(row, this.sessionId()) : null;
  }

  /** Stores a new message in the outbox; it is durable once the current turn's writes commit. */
  append(m: Message) {
    this.sql.exec(
      `INSERT INTO messages (${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      m.seq, m.id, m.clientId, m.userId, m.direction, m.content, m.messageType,
      JSON.stringify(m.metadata), m.agentInfo ? JSON.stringify(m.agentInfo) : null, m.parentId, Date.parse(m.createdAt),
    );
    if (m.clientId !== null) this.sql.exec("INSERT INTO client_ids (client_id, seq) VALUES (?, ?)", m.clientId, m.seq);
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
      .exec<MessageRow>(`SELECT ${columns} FROM messages WHERE flushed = 0 ORDER BY seq LIMIT ?`, limit)
      .toArray()
      .map((r) => toMessage(r, sessionId));
  }

  unflushedCount(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM messages WHERE flushed = 0").one().n;
  }

  /** Marks [from, to] as in Postgres and drops flushed messages that fell out of the replay window. */
  markFlushed(from: number, to: number, keepFrom: number) {
    this.sql.exec("UPDATE messages SET flushed = 1 WHERE seq BETWEEN ? AND ?", from, to);
    this.sql.exec("DELETE FROM messages WHERE flushed = 1 AND seq < ?", keepFrom);
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
