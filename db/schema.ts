// Postgres tables: chat sessions and their messages (the system of record).
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  real,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { messageDirections, sessionHandlers, sessionStatuses, turnStates } from "../worker/shapes";

// The enums are declared once, with the API's shapes (zod only, so client/ can import them too).
export { messageDirections, sessionHandlers, sessionStatuses, turnStates };
export type { MessageDirection, SessionHandler, SessionStatus, TurnState } from "../worker/shapes";

// Millisecond precision so a JS Date round-trips exactly (keyset cursors compare timestamps).
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "date", precision: 3 });

export const chatSessions = pgTable(
  "chat_sessions",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: text("user_id").notNull(),
    agentType: text("agent_type").notNull(),
    title: text("title"),
    status: text("status", { enum: sessionStatuses }).notNull().default("active"),
    messageCount: integer("message_count").notNull().default(0),
    lastSeq: integer("last_seq").notNull().default(0),
    lastActivityAt: ts("last_activity_at").notNull().defaultNow(),
    expiresAt: ts("expires_at").notNull(),
    resolvedAt: ts("resolved_at"),
    resolutionNotes: text("resolution_notes"),
    endedAt: ts("ended_at"),
    endedReason: text("ended_reason"),
    metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull().default({}),
    context: jsonb("context").$type<Record<string, unknown>>().notNull().default({}),
    state: jsonb("state").$type<Record<string, unknown>>().notNull().default({}),
    handler: text("handler", { enum: sessionHandlers }).notNull().default("agent"),
    /** The admin who took the session, once one has (null while it waits for a human). */
    handlerUserId: text("handler_user_id"),
    /** When the current handler got the session (for a human: since when it has been waiting). */
    handlerSince: ts("handler_since"),
    createdAt: ts("created_at").notNull().defaultNow(),
    updatedAt: ts("updated_at").notNull().defaultNow(),
  },
  (t) => [
    // sessions.waiting: sessions held by a human, longest-waiting first.
    index("chat_sessions_waiting_idx")
      .on(t.handlerSince)
      .where(sql`${t.handler} = 'human' and ${t.status} in ('active', 'idle', 'resolved')`),
    // sessions.list (by status, newest activity first, keyset on (last_activity_at, id)).
    index("chat_sessions_user_activity_idx").on(t.userId, t.status, t.lastActivityAt.desc(), t.id.desc()),
    // the open-sessions-per-agent limit.
    index("chat_sessions_user_agent_idx").on(t.userId, t.agentType, t.status, t.createdAt),
    // the cron sweep (idle and expiry) only looks at open sessions.
    index("chat_sessions_sweep_idx")
      .on(t.status, t.expiresAt)
      .where(sql`${t.status} in ('active', 'idle', 'resolved')`),
  ],
);

export const chatMessages = pgTable(
  "chat_messages",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    sessionId: uuid("session_id")
      .notNull()
      .references(() => chatSessions.id, { onDelete: "cascade" }),
    userId: text("user_id").notNull(),
    seq: integer("seq").notNull(),
    clientId: text("client_id"),
    direction: text("direction", { enum: messageDirections }).notNull(),
    content: text("content").notNull(),
    messageType: text("message_type").notNull().default("text"),
    metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull().default({}),
    intent: text("intent"),
    entities: jsonb("entities").$type<unknown[]>(),
    sentiment: real("sentiment"),
    confidence: real("confidence"),
    agentInfo: jsonb("agent_info").$type<Record<string, unknown>>(),
    processingMs: integer("processing_ms"),
    errorInfo: jsonb("error_info").$type<Record<string, unknown>>(),
    parentId: uuid("parent_id"),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [
    // Keyset paging and the single-writer guarantee: one row per (session, seq).
    uniqueIndex("chat_messages_session_seq_idx").on(t.sessionId, t.seq),
    // Idempotency key; NULLs never collide.
    uniqueIndex("chat_messages_session_client_idx").on(t.sessionId, t.clientId),
    index("chat_messages_content_fts_idx").using("gin", sql`to_tsvector('simple', ${t.content})`),
  ],
);

/**
 * Outbox rows that can never be written to chat_messages (the session's row is gone, as after a
 * restore from backup or a deletion on request; or a row Postgres refuses), set aside so the rows
 * behind them, and other sessions', go on. No foreign key: the session may be exactly what is missing.
 */
export const chatDeadLetters = pgTable(
  "chat_dead_letters",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    sessionId: uuid("session_id").notNull(),
    seq: integer("seq").notNull(),
    messageId: uuid("message_id"),
    /** Why it could not be written (Postgres's message, or the object's). */
    error: text("error").notNull(),
    /** The outbox row as JSON text, exactly as the session's object sent it. */
    payload: text("payload").notNull(),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [uniqueIndex("chat_dead_letters_session_seq_idx").on(t.sessionId, t.seq)],
);

/**
 * The audit trail of agent turns, written through the session's outbox: one row per turn, updated as
 * it moves. A turn that failed for good is a dead letter until an admin replays it.
 */
export const chatTurns = pgTable(
  "chat_turns",
  {
    id: uuid("id").primaryKey(),
    sessionId: uuid("session_id").notNull(),
    agentType: text("agent_type").notNull(),
    /** The customer's message the turn answers (the last one, when several were merged). */
    messageId: uuid("message_id"),
    state: text("state", { enum: turnStates }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    replySeq: integer("reply_seq"),
    ttfbMs: integer("ttfb_ms"),
    firstDeltaMs: integer("first_delta_ms"),
    totalMs: integer("total_ms"),
    error: text("error"),
    deadLetter: boolean("dead_letter").notNull().default(false),
    createdAt: ts("created_at").notNull(),
    updatedAt: ts("updated_at").notNull(),
  },
  (t) => [
    index("chat_turns_session_idx").on(t.sessionId, t.createdAt),
    index("chat_turns_agent_idx").on(t.agentType, t.updatedAt),
    index("chat_turns_dead_idx").on(t.updatedAt).where(sql`${t.deadLetter}`),
  ],
);

export type ChatSessionRow = typeof chatSessions.$inferSelect;
export type ChatMessageRow = typeof chatMessages.$inferSelect;
export type ChatDeadLetterRow = typeof chatDeadLetters.$inferSelect;
export type ChatTurnRow = typeof chatTurns.$inferSelect;
