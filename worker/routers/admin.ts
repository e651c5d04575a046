// Admin procedures: what the system set aside and needs a person to look at.
import * as z from "zod";
import { listDeadLetters } from "../../db/queries/dead-letters";
import { adminProcedure, router } from "../trpc";

const deadLetterSchema = z.object({
  id: z.number().int(),
  sessionId: z.uuid(),
  seq: z.number().int(),
  messageId: z.uuid().nullable(),
  error: z.string().describe("why Postgres (or the session's object) could not store it"),
  payload: z.string().describe("the outbox row as JSON text, as the session's object sent it"),
  createdAt: z.string().describe("ISO 8601 timestamp"),
});

export const adminRouter = router({
  deadLetters: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/dead-letters", protect: true, tags: ["admin"], summary: "Outbox rows that could not be written to Postgres, newest first" } })
    .input(
      z.object({
        limit: z.coerce.number().int().min(1).max(200).default(50),
        before: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
      }),
    )
    .output(z.object({ deadLetters: z.array(deadLetterSchema), nextCursor: z.number().int().nullable().describe("pass as `before`") }))
    .query(async ({ ctx, input }) => {
      const { rows, nextCursor } = await listDeadLetters(ctx.db, input);
      return { deadLetters: rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() })), nextCursor };
    }),
});
