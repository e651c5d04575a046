// The session WebSocket protocol: every frame, both directions, as zod discriminated unions on `type`.
// Imported by the Durable Object and by client/ so both sides agree on the wire format.
import * as z from "zod";
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

export type ErrorCode =
  | "BAD_FRAME"
  | "PAYLOAD_TOO_LARGE"
  | "RATE_LIMITED"
  | "SESSION_CLOSED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "CONFLICT"
  | "INTERNAL";

export type TurnState = "queued" | "calling" | "streaming" | "waiting_callback" | "retry_wait" | "done" | "failed" | "cancelled";

/** A turn as the sockets see it. `text`/`index` (a socket joining mid-turn): the reply so far and the last delta index it covers. */
export interface TurnFrameBody {
  turnId: string;
  state: TurnState;
  agentType: string;
  /** Attempts made so far (a new attempt discards the partial text of the one before). */
  attempt: number;
  /** The customer's message the turn answers. */
  parentId: string;
  replySeq?: number;
  error?: string;
  text?: string;
  index?: number;
}

/** Server → client frames. `Message` and `Session` are the API's JSON shapes (see worker/schemas.ts). */
export type ServerFrame<Message = unknown, Session = unknown> =
  | { type: "ready"; sessionId: string; lastSeq: number }
  | { type: "ack"; clientId: string; seq: number; id: string; createdAt: string; duplicate: boolean }
  | { type: "message"; message: Message }
  | { type: "typing"; userId: string; isTyping: boolean }
  | { type: "presence"; online: string[] }
  | { type: "read"; userId: string; seq: number }
  | { type: "session"; session: Session }
  | { type: "resync"; fromSeq: number; lastSeq: number }
  | { type: "error"; code: ErrorCode; message: string; clientId?: string; retryAfterMs?: number }
  | { type: "turn"; turn: TurnFrameBody }
  /** A piece of the reply being written; `index` counts 0, 1, 2… per attempt of a turn. */
  | { type: "delta"; turnId: string; attempt: number; index: number; text: string }
  | { type: "pong" };

/** Close codes the server uses (4xxx: application-defined). */
export const CloseCodes = {
  sessionEnded: 4000,
  sessionExpired: 4001,
} as const;
