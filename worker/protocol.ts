// The session WebSocket protocol: every frame, both directions, as zod discriminated unions on `type`.
// Imported by the Durable Object and by client/ so both sides agree on the wire format; it (and what it
// imports) depends on zod only, so a browser bundle of client/ carries no server code.
import * as z from "zod";
import { finalTurnStates, messageSchema, sessionSchema, turnStates, type TurnState } from "./shapes";
import { MAX_SEQ, jsonObject, text } from "./validation";

export const clientFrameSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("send"),
    clientId: text().min(1).max(128),
    content: text().refine((s) => s.trim().length > 0, "content must not be empty"),
    messageType: text().min(1).max(32).optional(),
    // Depth and size are checked against the configured limits before anything is stored.
    metadata: jsonObject().optional(),
  }),
  z.object({ type: z.literal("typing"), isTyping: z.boolean() }),
  z.object({ type: z.literal("read"), seq: z.number().int().min(0).max(MAX_SEQ) }),
  z.object({ type: z.literal("ping") }),
  // Stops a turn on the server: the given one, or the one running.
  z.object({ type: z.literal("cancel"), turnId: z.uuid().optional() }),
]);
export type ClientFrame = z.infer<typeof clientFrameSchema>;

/** The exact ping text the runtime answers without waking a hibernated session. */
export const PING_FRAME = '{"type":"ping"}';
export const PONG_FRAME = '{"type":"pong"}';

export const errorCodes = ["BAD_FRAME", "PAYLOAD_TOO_LARGE", "RATE_LIMITED", "SESSION_CLOSED", "FORBIDDEN", "NOT_FOUND", "CONFLICT", "INTERNAL"] as const;
export type ErrorCode = (typeof errorCodes)[number];

export { finalTurnStates };
export type { TurnState };

const seq = z.number().int().min(0).max(MAX_SEQ);

/** A turn as the sockets see it. `text`/`index` (a socket joining mid-turn): the reply so far and the last delta index it covers (-1: none yet). */
export const turnFrameBodySchema = z.object({
  turnId: z.string(),
  state: z.enum(turnStates),
  agentType: z.string(),
  /** Attempts made so far (a new attempt discards the partial text of the one before). */
  attempt: z.number().int().min(0),
  /** The customer's message the turn answers. */
  parentId: z.string(),
  replySeq: seq.optional(),
  error: z.string().optional(),
  text: z.string().optional(),
  index: z.number().int().min(-1).optional(),
});
export type TurnFrameBody = z.infer<typeof turnFrameBodySchema>;

/** Server → client frames. The client parses every frame it receives with this schema. */
export const serverFrameSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready"), sessionId: z.string(), lastSeq: seq }),
  z.object({ type: z.literal("ack"), clientId: z.string(), seq, id: z.string(), createdAt: z.string(), duplicate: z.boolean() }),
  z.object({ type: z.literal("message"), message: messageSchema }),
  z.object({ type: z.literal("typing"), userId: z.string(), isTyping: z.boolean() }),
  z.object({ type: z.literal("presence"), online: z.array(z.string()) }),
  z.object({ type: z.literal("read"), userId: z.string(), seq }),
  z.object({ type: z.literal("session"), session: sessionSchema }),
  z.object({ type: z.literal("resync"), fromSeq: seq, lastSeq: seq }),
  z.object({
    type: z.literal("error"),
    code: z.enum(errorCodes),
    message: z.string(),
    clientId: z.string().optional(),
    retryAfterMs: z.number().min(0).optional(),
  }),
  z.object({ type: z.literal("turn"), turn: turnFrameBodySchema }),
  /** A piece of the reply being written; `index` counts 0, 1, 2… per attempt of a turn. */
  z.object({ type: z.literal("delta"), turnId: z.string(), attempt: z.number().int().min(0), index: z.number().int().min(0), text: z.string() }),
  z.object({ type: z.literal("pong") }),
]);
export type ServerFrame = z.infer<typeof serverFrameSchema>;

/** Close codes the server uses (4xxx: application-defined). */
export const CloseCodes = {
  sessionEnded: 4000,
  sessionExpired: 4001,
} as const;
