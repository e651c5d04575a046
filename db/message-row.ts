// A message's fields as stored by the session object (SQLite) and sent through the outbox to Postgres,
// derived from the one declaration of the shape: the chat_messages Drizzle table.
import { getTableColumns } from "drizzle-orm";
import { chatMessages } from "./schema";
import type { Message } from "../worker/schemas";

type Kind = "text" | "number" | "json" | "time";

interface Field {
  /** The Message key. */
  key: Exclude<keyof Message, "sessionId">;
  /** The column name, the same in SQLite, in the outbox JSON and in Postgres. */
  column: string;
  kind: Kind;
  /** The Postgres type json_to_recordset reads the outbox JSON with. */
  pgType: string;
}

const pgColumns = getTableColumns(chatMessages);

/** Every Message field but sessionId (the object holds one session): all of them, checked by the type. */
const keys = {
  seq: true, id: true, clientId: true, userId: true, direction: true, content: true, messageType: true, metadata: true,
  intent: true, entities: true, sentiment: true, confidence: true, agentInfo: true, processingMs: true, errorInfo: true,
  parentId: true, createdAt: true,
} satisfies Record<Exclude<keyof Message, "sessionId">, true>;

export const messageFields: readonly Field[] = (Object.keys(keys) as Field["key"][]).map((key) => {
  const column = pgColumns[key];
  const kind: Kind = column.dataType === "json" ? "json" : column.dataType === "date" ? "time" : column.dataType === "number" ? "number" : "text";
  // Times travel as epoch milliseconds.
  return { key, column: column.name, kind, pgType: kind === "time" ? "bigint" : column.getSQLType() };
});

/** SQLite column list, in declaration order. */
export const messageColumnList = messageFields.map((f) => f.column).join(", ");

/** SQLite column definitions for CREATE TABLE / ALTER TABLE ADD COLUMN. */
export function sqliteColumnDef(f: Field): string {
  const type = f.kind === "number" ? (f.pgType === "integer" ? "INTEGER" : "REAL") : f.kind === "time" ? "INTEGER" : "TEXT";
  const pk = f.key === "seq" ? " PRIMARY KEY" : "";
  const required = pgColumns[f.key].notNull && !pk ? " NOT NULL" : "";
  return `${f.column} ${type}${pk}${required}`;
}

/** The values to bind for an INSERT of `messageColumnList`. */
export function messageValues(m: Message): SqlStorageValue[] {
  return messageFields.map((f) => {
    const v = m[f.key];
    if (v === null) return null;
    if (f.kind === "json") return JSON.stringify(v);
    if (f.kind === "time") return Date.parse(v as string);
    return v as SqlStorageValue;
  });
}

export type MessageRow = Record<string, SqlStorageValue>;

export function rowToMessage(r: MessageRow, sessionId: string): Message {
  const m: Record<string, unknown> = { sessionId };
  for (const f of messageFields) {
    const v = r[f.column] ?? null;
    m[f.key] = v === null ? null : f.kind === "json" ? JSON.parse(v as string) : f.kind === "time" ? new Date(v as number).toISOString() : v;
  }
  return m as Message;
}

/** SQL: every JSON column of the row is readable (SQLite refuses JSON nested over 1,000 levels, for one). */
export const readableRow = `(${messageFields
  .filter((f) => f.kind === "json")
  .map((f) => (pgColumns[f.key].notNull ? `json_valid(${f.column})` : `(${f.column} IS NULL OR json_valid(${f.column}))`))
  .join(" AND ")})`;

/** SQL: the row as the JSON object Postgres reads (JSON columns embedded as JSON, not as strings). */
export const outboxJsonObject = `json_object('session_id', ?, ${messageFields
  .map((f) => `'${f.column}', ${f.kind === "json" ? `json(${f.column})` : f.column}`)
  .join(", ")})`;

/** SQL: the row as JSON with JSON columns left as text (for a row whose JSON is not readable). */
export const rawJsonObject = `json_object(${messageFields.map((f) => `'${f.column}', ${f.column}`).join(", ")})`;

/** Postgres: the json_to_recordset column definitions of an outbox row. */
export const pgRecordColumns = ["session_id uuid", ...messageFields.map((f) => `${f.column} ${f.pgType}`)].join(", ");

/** Postgres: the insert column list and the matching select expressions over the recordset. */
export const pgInsertColumns = ["session_id", ...messageFields.map((f) => f.column)].join(", ");
export const pgSelectExpressions = [
  "session_id",
  ...messageFields.map((f) =>
    f.kind === "time" ? `to_timestamp(${f.column} / 1000.0)` : f.key === "metadata" ? `coalesce(${f.column}, '{}'::jsonb)` : f.column,
  ),
].join(", ");
