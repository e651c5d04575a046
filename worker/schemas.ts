// The API's data shapes (zod, shared by tRPC outputs and the OpenAPI document) and row→JSON mappers.
// The session and message shapes themselves live in ./shapes (zod only, shared with the protocol and client/).
import * as z from "zod";
import type { ChatMessageRow, ChatSessionRow } from "../db/schema";
import { isoDate, messageDirections, messageSchema, sessionSchema, type Message, type Session } from "./shapes";

export { messageSchema, sessionSchema, type Message, type Session } from "./shapes";

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
