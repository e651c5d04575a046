// Session procedures: create, read, list, rename, end, resume, resolve.
import { TRPCError } from "@trpc/server";
import { inArray, notInArray } from "drizzle-orm";
import * as z from "zod";
import {
  createSession,
  decodeListCursor,
  getSession,
  listSessions,
  reactivateSession,
  updateSession,
} from "../../db/queries/sessions";
import { chatSessions } from "../../db/schema";
import { assertUserAccess, loadSession } from "../access";
import { agentTypes } from "../agents/registry";
import { registryFor } from "./agents";
import { handoffProcedures } from "./handoff";
import type { Db } from "../db";
import { loggable, tooManyRequests } from "../errors";
import { historyPage, pendingFor, withPending } from "../history";
import { takeToken } from "../rate-limiter";
import { jsonLimits, sessionIdSecret } from "../config";
import { pageSchema, sessionListItemSchema, sessionSchema, toSession, type Session, type SessionFields } from "../schemas";
import { notifySession, sessionStub } from "../session";
import type { SessionChange } from "../session/contract";
import { issueSessionId, sessionIdSchema as sessionId } from "../session-id";
import { protectedProcedure, router } from "../trpc";
import { checkJson, jsonObject, text } from "../validation";

const byId = z.object({ sessionId });
const title = () => text().trim().min(1).max(200);

/** Messages returned by sessions.get and sessions.resume. */
const GET_PAGE = 50;
const RESUME_PAGE = 500;

/** A session and its newest messages, including those its object has not flushed to Postgres yet. */
async function page(ctx: { db: Db; env: Env }, row: SessionFields, limit: number) {
  const pending = await pendingFor(ctx.env, row.id);
  const { messages, nextCursor } = await historyPage(ctx.db, row.id, { limit }, pending);
  return { session: withPending(toSession(row), pending), messages, nextCursor };
}

/** Returns the changed session, after telling its object (and so its sockets). */
async function changed(env: Env, row: SessionFields, change: SessionChange = "status") {
  const session = toSession(row);
  await notifySession(env, session, change);
  return session;
}

/**
 * Hands a new session to its object, so it knows it without asking Postgres. The session exists
 * once Postgres has its row: should this fail, the object adopts the session from Postgres on first use.
 */
async function initObject(env: Env, session: Session) {
  try {
    await sessionStub(env, session.id).init(session);
  } catch (err) {
    console.error(`session ${session.id}: init failed; the object will adopt it from Postgres`, loggable(err));
  }
}

/**
 * A guarded update matched nothing: another request changed the session's status since it was
 * read. The conflict names the status it has now, not the one read before.
 */
async function changedMeanwhile(db: Db, id: string, action: string): Promise<never> {
  return conflict((await getSession(db, id))?.status ?? "ended", action);
}

function conflict(status: string, action: string): never {
  throw new TRPCError({ code: "CONFLICT", message: `cannot ${action} a session that is ${status}` });
}

export const sessionsRouter = router({
  ...handoffProcedures,
  create: protectedProcedure
    .meta({ openapi: { method: "POST", path: "/sessions", protect: true, tags: ["sessions"], summary: "Start a chat session" } })
    .input(
      z.object({
        agentType: text().min(1).max(64).optional(),
        title: title().optional(),
        metadata: jsonObject().optional(),
      }),
    )
    .output(sessionSchema)
    .mutation(async ({ ctx, input }) => {
      const types = agentTypes(registryFor(ctx.env));
      const agentType = input.agentType ?? ctx.config.DEFAULT_AGENT_TYPE;
      if (!types.includes(agentType)) {
        throw new TRPCError({ code: "BAD_REQUEST", message: `agentType must be one of: ${types.join(", ")}` });
      }
      const verdict = checkJson(input.metadata ?? {}, jsonLimits(ctx.config, "session"), "metadata");
      if (!verdict.ok) throw new TRPCError({ code: verdict.code, message: verdict.message });
      const ttlHours = ctx.user.guest ? ctx.config.GUEST_SESSION_TTL_HOURS : ctx.config.USER_SESSION_TTL_HOURS;
      const retryAfterMs = await takeToken(
        ctx.env,
        `create:${ctx.user.id}`,
        ctx.config.SESSION_CREATE_LIMIT,
        ctx.config.SESSION_CREATE_WINDOW_SECONDS * 1000,
      );
      if (retryAfterMs !== null) throw tooManyRequests("too many sessions created; try again later", retryAfterMs);
      const { session, ended } = await createSession(ctx.db, {
        id: await issueSessionId(sessionIdSecret(ctx.config)),
        userId: ctx.user.id,
        agentType,
        title: input.title ?? null,
        metadata: input.metadata ?? {},
        ttlMs: ttlHours * 3_600_000,
        maxOpen: ctx.config.MAX_OPEN_SESSIONS_PER_AGENT,
      });
      const created = toSession(session);
      await Promise.all([initObject(ctx.env, created), ...ended.map((row) => changed(ctx.env, row))]);
      return created;
    }),

  get: protectedProcedure
    .meta({ openapi: { method: "GET", path: "/sessions/{sessionId}", protect: true, tags: ["sessions"], summary: "A session with its latest 50 messages" } })
    .input(byId)
    .output(pageSchema)
    .query(async ({ ctx, input }) => {
      const session = await loadSession(ctx.db, ctx.user, input.sessionId, "read");
      return page(ctx, session, GET_PAGE);
    }),

  list: protectedProcedure
    .meta({ openapi: { method: "GET", path: "/users/{userId}/sessions", protect: true, tags: ["sessions"], summary: "A user's sessions, newest activity first" } })
    .input(
      z.object({
        userId: text().min(1).max(200),
        type: z.enum(["active", "unresolved", "recent"]).default("recent"),
        limit: z.coerce.number().int().min(1).max(100).default(20),
        cursor: text().max(200).optional(),
      }),
    )
    .output(z.object({ sessions: z.array(sessionListItemSchema), nextCursor: z.string().nullable() }))
    .query(async ({ ctx, input }) => {
      assertUserAccess(ctx.user, input.userId);
      const cursor = input.cursor ? decodeListCursor(input.cursor) : null;
      if (input.cursor && !cursor) throw new TRPCError({ code: "BAD_REQUEST", message: "cursor is not valid" });
      const { rows, nextCursor } = await listSessions(ctx.db, { ...input, cursor });
      return { sessions: rows.map((r) => ({ ...toSession(r), lastMessage: r.lastMessage })), nextCursor };
    }),

  rename: protectedProcedure
    .meta({ openapi: { method: "PATCH", path: "/sessions/{sessionId}", protect: true, tags: ["sessions"], summary: "Rename a session" } })
    .input(z.object({ sessionId, title: title() }))
    .output(sessionSchema)
    .mutation(async ({ ctx, input }) => {
      const session = await loadSession(ctx.db, ctx.user, input.sessionId, "write");
      const closed = ["ended", "expired"] as const;
      const row = await updateSession(ctx.db, session.id, { title: input.title }, notInArray(chatSessions.status, [...closed]));
      return row ? changed(ctx.env, row, "renamed") : changedMeanwhile(ctx.db, session.id, "rename");
    }),

  end: protectedProcedure
    .meta({ openapi: { method: "DELETE", path: "/sessions/{sessionId}", protect: true, tags: ["sessions"], summary: "End a session (kept, hidden from lists)" } })
    .input(z.object({ sessionId, reason: text().trim().min(1).max(200).optional() }))
    .output(sessionSchema)
    .mutation(async ({ ctx, input }) => {
      const session = await loadSession(ctx.db, ctx.user, input.sessionId, "write");
      if (session.status === "ended") return toSession(session);
      const row = await updateSession(
        ctx.db,
        session.id,
        { status: "ended", endedAt: new Date(), endedReason: input.reason ?? "user_ended" },
        inArray(chatSessions.status, ["active", "idle", "resolved"]),
      );
      if (row) return changed(ctx.env, row);
      // Ended meanwhile by another request: ending is idempotent, as for a session read as ended.
      const now = await getSession(ctx.db, session.id);
      return now?.status === "ended" ? toSession(now) : conflict(now?.status ?? "ended", "end");
    }),

  resume: protectedProcedure
    .meta({ openapi: { method: "POST", path: "/sessions/{sessionId}/resume", protect: true, tags: ["sessions"], summary: "Reactivate an idle or resolved session and load its history" } })
    .input(byId)
    .output(pageSchema)
    .mutation(async ({ ctx, input }) => {
      let session = await loadSession(ctx.db, ctx.user, input.sessionId, "write");
      if (session.status === "ended" || session.status === "expired") conflict(session.status, "resume");
      // Also for a session Postgres still calls active: its object may have just found it idle
      // (not flushed yet). Resuming restarts the idle clock either way, and the object hears of it.
      const resumed = await reactivateSession(ctx.db, session, ctx.config.MAX_OPEN_SESSIONS_PER_AGENT);
      if (!resumed) return changedMeanwhile(ctx.db, session.id, "resume");
      session = resumed.session;
      await Promise.all([changed(ctx.env, session), ...resumed.ended.map((row) => changed(ctx.env, row))]);
      return page(ctx, session, RESUME_PAGE);
    }),

  resolve: protectedProcedure
    .meta({ openapi: { method: "POST", path: "/sessions/{sessionId}/resolve", protect: true, tags: ["sessions"], summary: "Mark a session resolved" } })
    .input(z.object({ sessionId, notes: text().trim().max(2000).optional() }))
    .output(sessionSchema)
    .mutation(async ({ ctx, input }) => {
      const session = await loadSession(ctx.db, ctx.user, input.sessionId, "resolve");
      const row = await updateSession(
        ctx.db,
        session.id,
        {
          status: "resolved",
          resolvedAt: session.status === "resolved" ? session.resolvedAt : new Date(),
          resolutionNotes: input.notes ?? session.resolutionNotes,
        },
        inArray(chatSessions.status, ["active", "idle", "resolved"]),
      );
      return row ? changed(ctx.env, row) : changedMeanwhile(ctx.db, session.id, "resolve");
    }),
});
