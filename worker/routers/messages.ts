// Message procedures: send (through the session's Durable Object), history paging, and search (search.ts).
import { TRPCError } from "@trpc/server";
import * as z from "zod";
import { loadSession } from "../access";
import { AgentConfigError } from "../agents/registry";
import { jsonLimits, sessionIdSecret } from "../config";
import { tooManyRequests } from "../errors";
import { historyPage, pendingFor } from "../history";
import { messageSchema } from "../schemas";
import { mayReachSession, sessionStub } from "../session";
import type { SendResult } from "../session/contract";
import { isIssuedSessionId, sessionIdSchema as sessionId } from "../session-id";
import { protectedProcedure, router } from "../trpc";
import { searchProcedures } from "./search";
import { MAX_SEQ, checkJson, jsonObject, text } from "../validation";

const seq = z.coerce.number().int().min(0).max(MAX_SEQ);

export const sendInput = z.object({
  sessionId,
  content: text().refine((s) => s.trim().length > 0, "content must not be empty"),
  clientId: text().min(1).max(128).optional(),
  messageType: text().min(1).max(32).default("text"),
  metadata: jsonObject().default({}),
});

export const messagesRouter = router({
  ...searchProcedures,
  send: protectedProcedure
    .meta({ openapi: { method: "POST", path: "/sessions/{sessionId}/messages", protect: true, tags: ["messages"], summary: "Send a message; the same clientId again returns the first" } })
    .input(sendInput)
    .output(messageSchema)
    .mutation(async ({ ctx, input }) => {
      // Checked before the object is asked: a value nested thousands deep must not even be cloned.
      const verdict = checkJson(input.metadata, jsonLimits(ctx.config, "message"), "metadata");
      if (!verdict.ok) throw new TRPCError({ code: verdict.code, message: verdict.message });
      if (!(await mayReachSession(ctx.config, () => ctx.db, input.sessionId))) {
        throw new TRPCError({ code: "NOT_FOUND", message: `session ${input.sessionId} not found` });
      }
      // The session's object checks ownership and state itself, so sending works while Postgres is down.
      // The RPC type mapping cannot express jsonb (Record<string, unknown>) fields; it returns SendResult.
      const result = (await sessionStub(ctx.env, input.sessionId).send(
        input.sessionId,
        { id: ctx.user.id, role: ctx.user.role },
        { clientId: input.clientId ?? null, content: input.content, messageType: input.messageType, metadata: input.metadata },
        ctx.origin ?? undefined,
      )) as unknown as SendResult;
      if (!result.ok) {
        if (result.code === "TOO_MANY_REQUESTS") throw tooManyRequests(result.error, result.retryAfterMs ?? 1000);
        if (result.code === "AGENTS_MISCONFIGURED") {
          throw new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: result.error, cause: new AgentConfigError(result.error) });
        }
        throw new TRPCError({ code: result.code, message: result.error });
      }
      return result.message;
    }),

  history: protectedProcedure
    .meta({ openapi: { method: "GET", path: "/sessions/{sessionId}/history", protect: true, tags: ["messages"], summary: "A page of messages, ascending by seq" } })
    .input(
      z
        .object({
          sessionId,
          limit: z.coerce.number().int().min(1).max(200).default(50),
          before: seq.optional(),
          after: seq.optional(),
          offset: seq.optional(),
        })
        .refine((q) => [q.before, q.after, q.offset].filter((v) => v !== undefined).length <= 1, {
          message: "use at most one of before, after and offset",
        }),
    )
    .output(
      z.object({
        messages: z.array(messageSchema),
        nextCursor: z
          .number()
          .int()
          .nullable()
          .describe("continue with the same parameter you paged by (before by default); null when there is no more"),
      }),
    )
    .query(async ({ ctx, input }) => {
      let t = performance.now();
      // For an id this deployment issued, the object's unflushed messages are fetched while Postgres
      // checks access (they are used only if the caller may read the session). Any other id reaches
      // the object only once Postgres has shown the session exists: addressing an object creates it.
      const issued = await isIssuedSessionId(input.sessionId, sessionIdSecret(ctx.config));
      const early = issued ? pendingFor(ctx.env, input.sessionId) : null;
      early?.catch(() => {});
      const session = await loadSession(ctx.db, ctx.user, input.sessionId, "read");
      const pending = await (early ?? pendingFor(ctx.env, session.id));
      ctx.metric("session", performance.now() - t);
      t = performance.now();
      const page = await historyPage(ctx.db, session.id, input, pending);
      ctx.metric("page", performance.now() - t);
      return page;
    }),
});
