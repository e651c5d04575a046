// The API's core data shapes (enums, a session, a message) as zod, with no dependency but zod:
// shared by the Postgres tables, the tRPC outputs, the socket protocol and client/.
import * as z from "zod";

export const sessionStatuses = ["active", "idle", "resolved", "ended", "expired"] as const;
export type SessionStatus = (typeof sessionStatuses)[number];

/** Who answers a session: its agent, or a human (support staff) after a handoff. */
export const sessionHandlers = ["agent", "human"] as const;
export type SessionHandler = (typeof sessionHandlers)[number];

export const turnStates = ["queued", "calling", "streaming", "waiting_callback", "retry_wait", "done", "failed", "cancelled"] as const;
export type TurnState = (typeof turnStates)[number];
/** A turn in one of these is over: nothing more comes for it. */
export const finalTurnStates: readonly TurnState[] = ["done", "failed", "cancelled"];

export const messageDirections = ["incoming", "outgoing", "system"] as const;
export type MessageDirection = (typeof messageDirections)[number];

const json = z.record(z.string(), z.unknown());

export const isoDate = z.string().describe("ISO 8601 timestamp");

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
