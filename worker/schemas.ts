// The API's data shapes (zod, shared by tRPC outputs and the OpenAPI document) and row→JSON mappers.
import * as z from "zod";
import { messageDirections, sessionHandlers, sessionStatuses, type ChatMessageRow, type ChatSessionRow } from "../db/schema";

const json = z.record(z.string(), z.unknown());

const isoDate = z.string().describe("ISO 8601 timestamp");

export const sessionSchema = z.object({
  id: z.uuid(),
  userId: z.string(),
  agentType: z.string(),
  title: z.string().nullable(),
  status: z.enum(sessionStatuses),
  messageCount: z.number().int(),
  lastSeq: z.number().int(),
  lastActivityAt: isoDate,
  expiresAt: isoDate,
  resolvedAt: isoDate.nullable(),
  resolutionNotes: z.string().nullable(),
  endedAt: isoDate.nullable(),
  endedReason: z.string().nullable(),
  metadata: json,
  context: json,
  handler: z.enum(sessionHandlers).describe("who answers: the session's agent, or a human after a handoff"),
  handlerUserId: z.string().nullable().describe("the admin who took the session (null while it waits for one)"),
  handlerSince: isoDate.nullable().describe("when the current handler got the session"),
  createdAt: isoDate,
  updatedAt: isoDate,
});
export type Session = z.infer<typeof sessionSchema>;

export const messageSchema = z.object({
  id: z.uuid(),
  sessionId: z.uuid(),
  seq: z.number().int(),
  clientId: z.string().nullable(),
  userId: z.string(),
  direction: z.enum(messageDirections),
  content: z.string(),
  messageType: z.string(),
  metadata: json,
  intent: z.string().nullable(),
  entities: z.array(z.unknown()).nullable(),
  sentiment: z.number().nullable(),
  confidence: z.number().nullable(),
  agentInfo: json.nullable(),
  processingMs: z.number().int().nullable(),
  errorInfo: json.nullable(),
  parentId: z.uuid().nullable(),
  createdAt: isoDate,
});
export type Message = z.infer<typeof messageSchema>;

export const lastMessagePreviewSchema = z.object({
  seq: z.number().int(),
  direction: z.enum(messageDirections),
  content: z.string().describe("the first 200 characters"),
  createdAt: isoDate,
});

export const sessionListItemSchema = sessionSchema.extend({ lastMessage: lastMessagePreviewSchema.nullable() });

export const pageSchema = z.object({
  session: sessionSchema,
  messages: z.array(messageSchema),
  nextCursor: z.number().int().nullable().describe("pass as `before` to page to older messages; null when none"),
});

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export type SessionFields = Omit<ChatSessionRow, "state">;

export function toSession(row: SessionFields): Session {
  return {
    id: row.id,
    userId: row.userId,
    agentType: row.agentType,
    title: row.title,
    status: row.status,
    messageCount: row.messageCount,
    lastSeq: row.lastSeq,
    lastActivityAt: row.lastActivityAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    resolvedAt: iso(row.resolvedAt),
    resolutionNotes: row.resolutionNotes,
    endedAt: iso(row.endedAt),
    endedReason: row.endedReason,
    metadata: row.metadata,
    context: row.context,
    handler: row.handler,
    handlerUserId: row.handlerUserId,
    handlerSince: iso(row.handlerSince),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function toMessage(row: ChatMessageRow): Message {
  return { ...row, createdAt: row.createdAt.toISOString() };
}
