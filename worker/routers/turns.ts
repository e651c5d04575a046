// Turn procedures: the customer (or staff) stops a turn on the server.
import { TRPCError } from "@trpc/server";
import * as z from "zod";
import { mayReachSession, sessionStub } from "../session";
import type { TurnResult } from "../session/agent-turns";
import { sessionIdSchema as sessionId } from "../session-id";
import { protectedProcedure, router } from "../trpc";

export const turnsRouter = router({
  cancel: protectedProcedure
    .meta({ openapi: { method: "POST", path: "/sessions/{sessionId}/turns/cancel", protect: true, tags: ["turns"], summary: "Stop a turn (the running one when no turnId is given); its agent call is aborted" } })
    .input(z.object({ sessionId, turnId: z.uuid().transform((s) => s.toLowerCase()).optional() }))
    .output(z.object({ turnId: z.uuid(), state: z.string() }))
    .mutation(async ({ ctx, input }) => {
      if (!(await mayReachSession(ctx.config, () => ctx.db, input.sessionId))) {
        throw new TRPCError({ code: "NOT_FOUND", message: `session ${input.sessionId} not found` });
      }
      const result = (await sessionStub(ctx.env, input.sessionId).cancelTurn(
        input.sessionId,
        { id: ctx.user.id, role: ctx.user.role },
        input.turnId ?? null,
      )) as TurnResult;
      if (!result.ok) throw new TRPCError({ code: result.code, message: result.error });
      return { turnId: result.turn.turnId, state: result.turn.state };
    }),
});
