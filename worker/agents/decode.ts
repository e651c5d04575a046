// Decodes what an HTTP agent sends back (a JSON reply, an SSE / ndjson / text stream, a webhook callback); pure, web streams only.
import { createParser } from "eventsource-parser";
import * as z from "zod";
import { sessionIdSchema } from "../session-id";
import { jsonObject, text as storableText } from "../validation";

export interface ReplyFields {
  intent?: string | null;
  entities?: unknown[] | null;
  sentiment?: number | null;
  confidence?: number | null;
  context?: Record<string, unknown>;
  state?: Record<string, unknown>;
  /** `to` is an agent type or "human". */
  handoff?: { to: string; reason?: string };
  model?: string;
}

// Strings are checked storable (no NUL, no lone surrogate) here because these fields are written to
// SQLite and Postgres as sent; a bad one found later would stall the outbox. `jsonObject` rather than
// z.record because a record copies the object, and a copy silently drops a `__proto__` key.
const fieldsShape = {
  intent: storableText().max(128).nullable().optional(),
  entities: z.array(z.unknown()).max(100).nullable().optional(),
  sentiment: z.number().min(-1).max(1).nullable().optional(),
  confidence: z.number().min(0).max(1).nullable().optional(),
  context: jsonObject().optional(),
  state: jsonObject().optional(),
  handoff: z.object({ to: storableText().min(1).max(64), reason: storableText().max(500).optional() }).optional(),
  model: storableText().optional(),
};

/** The reply fields alone, every field optional, unknown keys ignored. */
export const replyFieldsSchema = z.object(fieldsShape) satisfies z.ZodType<ReplyFields>;

/**
 * How a response is read: 202 is "accepted" (a webhook agent answers later); anything else by its
 * content type, parameters and case ignored; null when unsupported. Only meaningful for 2xx.
 */
export function replyKind(status: number, contentType: string | null): "accepted" | "json" | "sse" | "ndjson" | "text" | null {
  if (status === 202) return "accepted";
  const mediaType = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  switch (mediaType) {
    case "application/json":
      return "json";
    case "text/event-stream":
      return "sse";
    case "application/x-ndjson":
    case "application/jsonl":
      return "ndjson";
    case "text/plain":
      return "text";
    default:
      return null;
  }
}

const TEXT_KEYS = ["output", "text", "message"] as const;
// z.unknown() because a non-string `output` (say, an object) must not hide a string `text` after it.
const replyShape = { output: z.unknown().optional(), text: z.unknown().optional(), message: z.unknown().optional(), ...fieldsShape };

type ReplyInput = z.output<z.ZodObject<typeof replyShape>>;

function toReply({ output, text, message, ...fields }: ReplyInput, ctx: z.RefinementCtx): { text: string; fields: ReplyFields } {
  const found = [output, text, message].find((v) => typeof v === "string");
  if (typeof found !== "string") {
    ctx.addIssue({ code: "custom", message: `a reply needs its text as a string in ${TEXT_KEYS.join(", ")}`, input: { output, text, message } });
    return z.NEVER;
  }
  return { text: found, fields };
}

/** A complete JSON reply, `{output | text | message, ...ReplyFields}`, parsed to `{ text, fields }`. Unknown keys ignored. */
export const replySchema = z.object(replyShape).transform(toReply);

/** Parses a complete reply; on failure a readable message naming the fields. */
export function parseReply(value: unknown): { ok: true; text: string; fields: ReplyFields } | { ok: false; error: string } {
  const result = replySchema.safeParse(value);
  return result.success ? { ok: true, ...result.data } : { ok: false, error: z.prettifyError(result.error) };
}

// Lower case, as crypto.randomUUID() spells the turn ids we issue, so an echo compares equal.
const callbackIds = { turnId: z.uuid().transform((s) => s.toLowerCase()), sessionId: sessionIdSchema };

/**
 * A webhook agent's callback: the ids and a complete reply (parsed to `{turnId, sessionId, text, fields}`),
 * or the ids and `error` for an agent reporting that it failed. A string `error` wins over any reply text.
 */
export const callbackSchema = z.union([
  z.object({ ...callbackIds, error: z.string() }),
  z.object({ ...callbackIds, ...replyShape }).transform(({ turnId, sessionId, ...reply }, ctx) => ({ turnId, sessionId, ...toReply(reply, ctx) })),
]);

export type StreamEvent =
  | { type: "delta"; text: string }
  /** Merged by the caller, later wins. */
  | { type: "fields"; fields: ReplyFields }
  /** The agent reported an error in-stream. */
  | { type: "error"; message: string }
  /** The stream said it is complete ([DONE], an AI SDK finish, n8n's end). */
  | { type: "end" };

const DEFAULT_ERROR = "the agent reported an error";

/**
 * Decodes a streamed body into events, in order. Ends when the body ends; "end" is emitted once, and
 * only if the stream itself said it finished. Breaking out of the loop cancels the body.
 */
export async function* decodeStream(body: ReadableStream<Uint8Array>, kind: "sse" | "ndjson" | "text"): AsyncGenerator<StreamEvent> {
  const text = textOf(body);
  if (kind === "text") {
    for await (const chunk of text) yield { type: "delta", text: chunk };
    return;
  }
  let ended = false;
  // An AI SDK stream says it finished twice (a finish chunk, then [DONE]); the caller hears it once.
  for await (const event of kind === "sse" ? sseEvents(text) : ndjsonEvents(text)) {
    if (event.type === "end") {
      if (ended) continue;
      ended = true;
    }
    yield event;
  }
}

/**
 * The body as text, in non-empty pieces. A streaming TextDecoder holds a multi-byte character split
 * across chunks until its last byte arrives. The body is read directly rather than piped through a
 * TextDecoderStream so that a consumer stopping early cancels it at once, not a few ticks later.
 */
async function* textOf(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let done = false;
  try {
    for (;;) {
      const result = await reader.read();
      if (result.done) {
        done = true;
        break;
      }
      const piece = decoder.decode(result.value, { stream: true });
      if (piece !== "") yield piece;
    }
  } finally {
    if (done) reader.releaseLock();
    else await reader.cancel().catch(() => {});
  }
  const rest = decoder.decode(); // a truncated character becomes U+FFFD rather than vanishing
  if (rest !== "") yield rest;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const fieldKeys = Object.keys(fieldsShape) as (keyof typeof fieldsShape)[];

/** The fields of `value` that validate, each on its own; null when none does. Never throws. */
function validFields(value: unknown): ReplyFields | null {
  if (!isRecord(value)) return null;
  const kept: Record<string, unknown> = {};
  for (const key of fieldKeys) {
    if (Object.hasOwn(value, key) && value[key] !== undefined && fieldsShape[key].safeParse(value[key]).success) kept[key] = value[key];
  }
  // Parsing the kept keys again cannot fail; it types them and strips handoff's unknown keys.
  return Object.keys(kept).length > 0 ? replyFieldsSchema.parse(kept) : null;
}

function errorMessage(value: unknown): string {
  return typeof value === "string" && value !== "" ? value : DEFAULT_ERROR;
}

async function* sseEvents(text: AsyncIterable<string>): AsyncGenerator<StreamEvent> {
  const seen = { model: false };
  const pending: string[] = [];
  // Per the SSE spec, an event the body cuts off before its blank line is dropped, so no flush at the end.
  const parser = createParser({ onEvent: (message) => void pending.push(message.data) });
  for await (const chunk of text) {
    parser.feed(chunk);
    for (const data of pending.splice(0)) yield* sseData(data, seen);
  }
}

/** One SSE event, told apart by its content: the event name is not reliable across agent frameworks. */
function* sseData(data: string, seen: { model: boolean }): Generator<StreamEvent> {
  if (data.trim() === "[DONE]") {
    yield { type: "end" };
    return;
  }
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return; // Keep-alives and log lines some agents interleave; not worth failing the turn for.
  }
  if (!isRecord(value)) return;
  if (typeof value.type === "string") yield* aiSdkChunk(value);
  else yield* openAiChunk(value, seen);
}

/** An AI SDK UI message stream chunk (`x-vercel-ai-ui-message-stream: v1`). */
function* aiSdkChunk(chunk: Record<string, unknown>): Generator<StreamEvent> {
  switch (chunk.type) {
    case "text-delta":
      if (typeof chunk.delta === "string" && chunk.delta !== "") yield { type: "delta", text: chunk.delta };
      return;
    case "error":
      yield { type: "error", message: errorMessage(chunk.errorText) };
      return;
    case "start":
    case "finish":
    case "message-metadata": {
      const fields = validFields(chunk.messageMetadata);
      if (fields) yield { type: "fields", fields };
      if (chunk.type === "finish") yield { type: "end" };
      return;
    }
    default:
      return; // text-start/-end, steps, reasoning, tools, sources, data parts: nothing a reply needs.
  }
}

/** An OpenAI `chat.completion.chunk`, or the `{error}` object OpenAI-compatible servers send mid-stream. */
function* openAiChunk(chunk: Record<string, unknown>, seen: { model: boolean }): Generator<StreamEvent> {
  if (isRecord(chunk.error)) {
    yield { type: "error", message: errorMessage(chunk.error.message) };
    return;
  }
  // Every chunk repeats the model; the caller needs it once.
  if (!seen.model && typeof chunk.model === "string" && chunk.model !== "") {
    seen.model = true;
    const fields = validFields({ model: chunk.model });
    if (fields) yield { type: "fields", fields };
  }
  const choice: unknown = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
  if (isRecord(choice) && isRecord(choice.delta) && typeof choice.delta.content === "string" && choice.delta.content !== "") {
    yield { type: "delta", text: choice.delta.content };
  }
}

async function* ndjsonEvents(text: AsyncIterable<string>): AsyncGenerator<StreamEvent> {
  for await (const line of linesOf(text)) {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    if (!isRecord(value)) continue;
    // n8n's streaming shape; its `metadata` describes the workflow node, not the reply.
    if (value.type === "item" && typeof value.content === "string" && value.content !== "") yield { type: "delta", text: value.content };
    else if (value.type === "end") yield { type: "end" };
    else if (value.type === "error") yield { type: "error", message: errorMessage(value.content) };
  }
}

/** Non-blank lines, CR stripped; a last line without a newline still counts. */
async function* linesOf(text: AsyncIterable<string>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of text) {
    // Search only the new text, so a long line arriving in many chunks is not rescanned each time.
    let from = buffer.length;
    buffer += chunk;
    let start = 0;
    for (let nl = buffer.indexOf("\n", from); nl !== -1; nl = buffer.indexOf("\n", from)) {
      const line = buffer.slice(start, nl).trim();
      if (line !== "") yield line;
      start = from = nl + 1;
    }
    buffer = buffer.slice(start);
  }
  const last = buffer.trim();
  if (last !== "") yield last;
}
