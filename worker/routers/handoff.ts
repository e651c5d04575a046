// Handoff procedures (part of `sessions`): support staff see who waits for a human, take a session,
// and hand it back to an agent.
import { TRPCError } from "@trpc/server";
import * as z from "zod";
import { waitingSessions } from "../../db/queries/agents";
import { loadSession } from "../access";
import { agentTypes } from "../agents/registry";
import { sessionSchema, toSession, type Session } from "../schemas";
import { sessionStub } from "../session";
import { sessionIdSchema as sessionId } from "../session-id";
import { adminProcedure } from "../trpc";
import { registryFor } from "./agents";

export const handoffProcedures = {
  waiting: adminProcedure
    .meta({ openapi: { method: "GET", path: "/sessions/waiting", protect: true, tags: ["handoff"], summary: "Open sessions held by a human, longest-waiting first" } })
    .input(z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }))
    .output(z.object({ sessions: z.array(sessionSchema) }))
    .query(async ({ ctx, input }) => ({ sessions: (await waitingSessions(ctx.db, input.limit)).map(toSession) })),

  handoff: adminProcedure
    .meta({ openapi: { method: "POST", path: "/sessions/{sessionId}/handoff", protect: true, tags: ["handoff"], summary: "Hand a session to a human (you take it) or to an agent type" } })
    .input(z.object({ sessionId, to: z.string().min(1).max(64).describe('"human", or an agent type') }))
    .output(sessionSchema)
    .mutation(async ({ ctx, input }) => {
      if (input.to !== "human") {
        const types = agentTypes(registryFor(ctx.env));
        if (!types.includes(input.to)) throw new TRPCError({ code: "BAD_REQUEST", message: `to must be "human" or one of: ${types.join(", ")}` });
      }
      const session = await loadSession(ctx.db, ctx.user, input.sessionId, "read");
      const result = (await sessionStub(ctx.env, session.id).handoff(session.id, input.to, ctx.user.id)) as
        | { ok: true; session: Session }
        | { ok: false; code: "NOT_FOUND" | "CONFLICT"; error: string };
      if (!result.ok) throw new TRPCError({ code: result.code, message: result.error });
      return result.session;
    }),
};
