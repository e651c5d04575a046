// User procedures: per-user statistics.
import * as z from "zod";
import { userStats } from "../../db/queries/sessions";
import { sessionStatuses } from "../../db/schema";
import { assertUserAccess } from "../access";
import { text } from "../validation";
import { protectedProcedure, router } from "../trpc";

const counts = z.record(z.string(), z.number().int());

export const usersRouter = router({
  stats: protectedProcedure
    .meta({ openapi: { method: "GET", path: "/users/{userId}/stats", protect: true, tags: ["users"], summary: "Sessions by status and agent type, message counts" } })
    .input(z.object({ userId: text().min(1).max(200) }))
    .output(
      z.object({
        userId: z.string(),
        sessions: z.object({ total: z.number().int(), byStatus: counts, byAgentType: counts }),
        messages: z.object({ total: z.number().int(), byDirection: counts, byAgentType: counts }),
      }),
    )
    .query(async ({ ctx, input }) => {
      assertUserAccess(ctx.user, input.userId);
      const { bySession, byDirection } = await userStats(ctx.db, input.userId);
      const byStatus: Record<string, number> = Object.fromEntries(sessionStatuses.map((s) => [s, 0]));
      const sessionsByAgent: Record<string, number> = {};
      const messagesByAgent: Record<string, number> = {};
      for (const row of bySession) {
        byStatus[row.status] = (byStatus[row.status] ?? 0) + row.sessions;
        sessionsByAgent[row.agentType] = (sessionsByAgent[row.agentType] ?? 0) + row.sessions;
        messagesByAgent[row.agentType] = (messagesByAgent[row.agentType] ?? 0) + row.messages;
      }
      const byDir: Record<string, number> = { incoming: 0, outgoing: 0, system: 0 };
      for (const row of byDirection) byDir[row.direction] = row.messages;
      const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
      return {
        userId: input.userId,
        sessions: { total: sum(byStatus), byStatus, byAgentType: sessionsByAgent },
        messages: { total: sum(byDir), byDirection: byDir, byAgentType: messagesByAgent },
      };
    }),
});
