// messages.search (part of `messages`): full-text search over the messages the caller may read.
import { TRPCError } from "@trpc/server";
import * as z from "zod";
import { decodeSearchCursor, encodeSearchCursor, searchMessages } from "../../db/queries/search";
import { messageDirections } from "../../db/schema";
import { loadSession } from "../access";
import { sessionIdSchema as sessionId } from "../session-id";
import { protectedProcedure } from "../trpc";
import { text } from "../validation";

const searchInput = z.object({
  q: text()
    .trim()
    .min(1, "q must not be blank")
    .max(200, "q must be at most 200 characters")
    .describe('websearch syntax: words (all must match), "a phrase", a or b, -word'),
  sessionId: sessionId.optional().describe("only this session (yours, or any for an admin)"),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: text().max(200).optional().describe("nextCursor of the previous page"),
});

const searchHitSchema = z.object({
  sessionId: z.uuid(),
  sessionTitle: z.string().nullable(),
  messageId: z.uuid(),
  seq: z.number().int(),
  direction: z.enum(messageDirections),
  createdAt: z.string().describe("ISO 8601 timestamp"),
  rank: z.number().describe("relevance in [0, 1); higher is better"),
  snippet: z.string().describe("HTML: the matching part of the content, every character escaped, matched words in <mark>…</mark>"),
});

export const searchProcedures = {
  search: protectedProcedure
    .meta({ openapi: { method: "GET", path: "/search", protect: true, tags: ["messages"], summary: "Full-text search over your messages (admins: everyone's), best match first" } })
    .input(searchInput)
    .output(z.object({ results: z.array(searchHitSchema), nextCursor: z.string().nullable() }))
    .query(async ({ ctx, input }) => {
      const cursor = input.cursor ? decodeSearchCursor(input.cursor) : null;
      if (input.cursor && !cursor) throw new TRPCError({ code: "BAD_REQUEST", message: "cursor is not valid" });
      // A session you may not read answers as sessions.get does: 404, as if it did not exist.
      if (input.sessionId) await loadSession(ctx.db, ctx.user, input.sessionId, "read");
      const t = performance.now();
      const { hits, nextCursor } = await searchMessages(ctx.db, {
        q: input.q,
        ownerId: ctx.user.role === "admin" ? null : ctx.user.id,
        sessionId: input.sessionId,
        limit: input.limit,
        cursor,
      });
      ctx.metric("search", performance.now() - t);
      return { results: hits, nextCursor: nextCursor ? encodeSearchCursor(nextCursor) : null };
    }),
};
