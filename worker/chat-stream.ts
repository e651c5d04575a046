// The AI SDK's chat transport (`useChat` with DefaultChatTransport) served over our sessions: POST /api/chat
// stores the customer's message and answers with its agent turn as a UI message stream, GET
// /api/chat/{id}/stream resumes the running turn from its start, POST /api/chat/{id}/stop cancels it.
import { TRPCError } from "@trpc/server";
import type { Context as HonoContext, Hono } from "hono";
import * as z from "zod";
import { unauthenticated, type Context } from "./context";
import { isDatabaseUnavailable } from "./db";
import { errorResponse, readInput } from "./rest";
import { createCaller } from "./routers";
import { mayReachSession, sessionStub } from "./session";
import type { TurnStreamResult } from "./session/contract";
import { emptyStream } from "./session/turn-streams";
import { sessionIdSchema } from "./session-id";

/** A UI message as DefaultChatTransport sends it; only the customer's text parts are used. */
const uiMessage = z.looseObject({
  id: z.string().min(1).max(128),
  role: z.enum(["system", "user", "assistant"]),
  parts: z.array(z.looseObject({ type: z.string(), text: z.unknown() })).max(1000),
  metadata: z.unknown().optional(),
});

/** `{id, messages, trigger, messageId}` (the default body) or the trimmed `{id, message}`. */
const chatBody = z.looseObject({
  id: sessionIdSchema,
  message: uiMessage.optional(),
  messages: z.array(uiMessage).optional(),
  trigger: z.enum(["submit-message", "regenerate-message"]).optional(),
  messageId: z.string().optional(),
});

function badRequest(message: string, cause?: unknown): TRPCError {
  return new TRPCError({ code: "BAD_REQUEST", message, cause });
}

/** The customer's message to store: the last UI message, which must be theirs and have text. */
export function customerMessage(input: unknown) {
  const parsed = chatBody.safeParse(input);
  if (!parsed.success) throw badRequest(z.prettifyError(parsed.error), parsed.error);
  const body = parsed.data;
  if (body.trigger === "regenerate-message") {
    throw badRequest("regenerate-message is not supported: a reply is stored once; send the question again as a new message");
  }
  const last = body.message ?? body.messages?.at(-1);
  if (!last) throw badRequest("the body needs `message`, or `messages` ending with the customer's message");
  if (last.role !== "user") throw badRequest(`the last message must be the customer's (role "user"), not "${last.role}"`);
  const content = last.parts.flatMap((p) => (p.type === "text" && typeof p.text === "string" ? [p.text] : [])).join("\n");
  if (content.trim() === "") throw badRequest("the message has no text part");
  const metadata = typeof last.metadata === "object" && last.metadata !== null && !Array.isArray(last.metadata) ? (last.metadata as Record<string, unknown>) : undefined;
  // The UI message id is the clientId: a re-sent request stores the message once and streams the same turn.
  return { sessionId: body.id, clientId: last.id, content, ...(metadata ? { metadata } : {}) };
}

const streamHeaders = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  "x-vercel-ai-ui-message-stream": "v1",
  "x-accel-buffering": "no",
};

function user(ctx: Context) {
  if (!ctx.user) throw unauthenticated(ctx);
  return { id: ctx.user.id, role: ctx.user.role };
}

async function turnStream(ctx: Context, sessionId: string, seq: number | null): Promise<ReadableStream<Uint8Array> | null> {
  const caller = user(ctx);
  let reachable: boolean;
  try {
    reachable = await mayReachSession(ctx.config, () => ctx.db, sessionId);
  } catch (err) {
    if (!isDatabaseUnavailable(err)) throw err;
    throw new TRPCError({ code: "SERVICE_UNAVAILABLE", message: "the database is unavailable; retry shortly", cause: err });
  }
  if (!reachable) throw new TRPCError({ code: "NOT_FOUND", message: `session ${sessionId} not found` });
  const result = (await sessionStub(ctx.env, sessionId).turnStream(sessionId, caller, seq)) as TurnStreamResult;
  if (!result.ok) throw new TRPCError({ code: result.code, message: result.error });
  return result.stream;
}

/** The chat id of a resume or stop URL: a session id. */
function chatId(param: string | undefined): string {
  const parsed = sessionIdSchema.safeParse(param);
  if (!parsed.success) throw badRequest("the chat id must be a session id (a UUID)");
  return parsed.data;
}

export function mountChat<E extends { Bindings: Env }>(app: Hono<E>, context: (c: HonoContext<E>) => Promise<Context>) {
  app.post("/api/chat", async (c) => {
    try {
      const ctx = await context(c);
      const input = customerMessage(await readInput(c, "POST"));
      // Stored exactly as messages.send stores it (validation, ownership, rate limits, redaction).
      const stored = await createCaller(ctx).messages.send(input);
      const stream = await turnStream(ctx, input.sessionId, stored.seq);
      // No turn (a human holds the session): the stream ends at once, with no assistant message.
      return new Response(stream ?? emptyStream(), { headers: streamHeaders });
    } catch (cause) {
      return errorResponse(c, cause, "api chat");
    }
  });

  app.get("/api/chat/:id/stream", async (c) => {
    try {
      const ctx = await context(c);
      const stream = await turnStream(ctx, chatId(c.req.param("id")), null);
      return stream ? new Response(stream, { headers: streamHeaders }) : c.body(null, 204);
    } catch (cause) {
      return errorResponse(c, cause, "api chat.stream");
    }
  });

  app.post("/api/chat/:id/stop", async (c) => {
    try {
      const ctx = await context(c);
      const turn = await createCaller(ctx).turns.cancel({ sessionId: chatId(c.req.param("id")) });
      return c.json({ stopped: true, ...turn });
    } catch (cause) {
      return errorResponse(c, cause, "api chat.stop");
    }
  });
}
