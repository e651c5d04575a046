// GET /api/sessions/{sessionId}/export: a whole session as JSON or Markdown, streamed page by page.
import { TRPCError } from "@trpc/server";
import type { Context as HonoContext } from "hono";
import * as z from "zod";
import { loadSession } from "./access";
import { unauthenticated, type Context } from "./context";
import { isDatabaseUnavailable, openDb } from "./db";
import { historyPage, pendingFor, withPending, type Pending } from "./history";
import { errorResponse } from "./rest";
import { toSession, type Message, type Session } from "./schemas";
import { sessionIdSchema } from "./session-id";
import { loggable } from "./errors";

/** Messages read from Postgres per query: a page is written out before the next one is read. */
export const EXPORT_PAGE = 500;

const exportInput = z.object({
  sessionId: sessionIdSchema,
  format: z.enum(["json", "markdown"], { error: "format must be json or markdown" }).default("json"),
});
export type ExportFormat = z.infer<typeof exportInput>["format"];

/** How one format writes the document: a head, each page of messages, and the end. */
interface Writer {
  contentType: string;
  extension: string;
  head(session: Session): string;
  page(messages: Message[], first: boolean, session: Session): string;
  end(): string;
}

const jsonWriter: Writer = {
  contentType: "application/json; charset=utf-8",
  extension: "json",
  // One JSON document, written in pieces: {"session": …, "messages": [ …one message per line… ]}.
  head: (session) => `{"session":${JSON.stringify(session)},\n"messages":[\n`,
  page: (messages, first) => (first ? "" : ",\n") + messages.map((m) => JSON.stringify(m)).join(",\n"),
  end: () => "\n]}\n",
};

/** Inline Markdown text: one line, with the characters Markdown would read as syntax escaped. */
const inline = (s: string) => s.replace(/\s+/g, " ").replace(/[\\`*_[\]<>&|~]/g, "\\$&");

function author(m: Message, session: Session): string {
  if (m.direction === "incoming") return `customer (${inline(m.userId)})`;
  if (m.direction === "system") return "system";
  const info = m.agentInfo ?? {};
  if (info.kind === "human") return `human (${inline(String(info.userId ?? m.userId))})`;
  return `agent (${inline(String(info.agentType ?? session.agentType))})`;
}

const markdownWriter: Writer = {
  contentType: "text/markdown; charset=utf-8",
  extension: "md",
  head(s) {
    const lines = [
      `# ${s.title ? inline(s.title) : `Chat session ${s.id}`}`,
      "",
      `- Session: \`${s.id}\``,
      `- User: ${inline(s.userId)}`,
      `- Agent type: ${inline(s.agentType)}`,
      `- Status: ${s.status}`,
      `- Created: ${s.createdAt}`,
      `- Last activity: ${s.lastActivityAt}`,
      `- Messages: ${s.messageCount}`,
    ];
    if (s.resolvedAt) lines.push(`- Resolved: ${s.resolvedAt}${s.resolutionNotes ? ` (${inline(s.resolutionNotes)})` : ""}`);
    if (s.endedAt) lines.push(`- Ended: ${s.endedAt}${s.endedReason ? ` (${inline(s.endedReason)})` : ""}`);
    return `${lines.join("\n")}\n`;
  },
  // Each message's content is quoted verbatim (a blockquote keeps the writer's own Markdown, and
  // a line like "# x" or "---" inside it cannot break the document's structure).
  page: (messages, _first, session) =>
    messages
      .map((m) => `\n**${author(m, session)}** (${m.createdAt}, #${m.seq})\n\n${m.content.split(/\r\n|\r|\n/).map((l) => (l ? `> ${l}` : ">")).join("\n")}\n`)
      .join(""),
  end: () => "",
};

const writers: Record<ExportFormat, Writer> = { json: jsonWriter, markdown: markdownWriter };

/**
 * The document as a stream: the session, then pages of EXPORT_PAGE messages by seq, each read only
 * when the client has taken the previous one (pull), so neither a long session nor a slow reader
 * puts the whole session in memory. The object's unflushed messages (`pending`, taken before the
 * first page) are merged into the pages by historyPage, as for messages.history: whatever was
 * acknowledged before the export started is in it, flushed or not.
 */
function exportStream(config: Context["config"], session: Session, pending: Pending | null, writer: Writer) {
  const encoder = new TextEncoder();
  // The request's own pool ends when the handler returns, before the body is read: the stream has its own.
  const handle = openDb(config);
  let after: number | null = 0;
  let first = true;
  let started = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          if (!started) {
            started = true;
            controller.enqueue(encoder.encode(writer.head(session)));
            return;
          }
          if (after === null) {
            controller.enqueue(encoder.encode(writer.end()));
            controller.close();
            await handle.close();
            return;
          }
          const page = await historyPage(handle.db, session.id, { limit: EXPORT_PAGE, after }, pending);
          after = page.nextCursor;
          if (page.messages.length > 0) {
            controller.enqueue(encoder.encode(writer.page(page.messages, first, session)));
            first = false;
          }
        } catch (err) {
          // The status is long sent: a cut-off body (the client sees the stream fail) is all that can be said.
          console.error(`export ${session.id}: failed mid-stream`, loggable(err));
          controller.error(err);
          await handle.close();
        }
      },
      async cancel() {
        await handle.close();
      },
    },
    { highWaterMark: 1 },
  );
}

/** The route's handler; `context` builds the same context the API's procedures get. */
export function exportSession<E extends { Bindings: Env }>(context: (c: HonoContext<E>) => Promise<Context>) {
  return async (c: HonoContext<E>): Promise<Response> => {
    try {
      const ctx = await context(c);
      if (!ctx.user) throw unauthenticated(ctx);
      const parsed = exportInput.safeParse({ sessionId: c.req.param("sessionId"), format: c.req.query("format") });
      if (!parsed.success) throw new TRPCError({ code: "BAD_REQUEST", message: "invalid input", cause: parsed.error });
      const { sessionId, format } = parsed.data;
      // Owner or admin; anyone else gets 404, exactly as sessions.get answers.
      const row = await loadSession(ctx.db, ctx.user, sessionId, "read");
      const pending = await pendingFor(ctx.env, row.id);
      const session = withPending(toSession(row), pending);
      const writer = writers[format];
      return new Response(exportStream(ctx.config, session, pending, writer), {
        headers: {
          "content-type": writer.contentType,
          "content-disposition": `attachment; filename="session-${session.id}.${writer.extension}"`,
          "cache-control": "no-store",
          "x-content-type-options": "nosniff",
        },
      });
    } catch (cause) {
      const error =
        !(cause instanceof TRPCError) && isDatabaseUnavailable(cause)
          ? new TRPCError({ code: "SERVICE_UNAVAILABLE", message: "the database is unavailable; retry shortly", cause })
          : cause;
      return errorResponse(c, error, "api sessions.export");
    }
  };
}
