// Agent procedures for support staff: turns that failed for good (dead letters) and their replay,
// and how each agent type is doing.
import { TRPCError } from "@trpc/server";
import * as z from "zod";
import { agentHealth, getTurn, listAgentDeadLetters } from "../../db/queries/agents";
import { decodeListCursor, encodeListCursor } from "../../db/queries/sessions";
import { AgentConfigError, agentRegistry, type Registry } from "../agents/registry";
import { sessionStub } from "../session";
import type { TurnResult } from "../session/agent-turns";
import { adminProcedure, router } from "../trpc";

/** The registry, or the 500 that names its broken field. */
export function registryFor(env: Env): Registry {
  const result = agentRegistry(env);
  if (!result.ok) throw new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: result.error, cause: new AgentConfigError(result.error) });
  return result.registry;
}

const isoDate = z.string().describe("ISO 8601 timestamp");

const turnSchema = z.object({
  turnId: z.uuid(),
  sessionId: z.uuid(),
  agentType: z.string(),
  messageId: z.uuid().nullable().describe("the customer's message the turn answers"),
  state: z.string(),
  attempts: z.number().int(),
  error: z.string().nullable().describe("the last error"),
  createdAt: isoDate,
  updatedAt: isoDate,
});

/** Opaque, as sessions.list's: the last row's (updated_at, id). */
const cursor = z
  .string()
  .max(200)
  .transform((s, ctx) => decodeListCursor(s) ?? (ctx.addIssue({ code: "custom", message: "cursor is not one this API issued" }), z.NEVER));

export const agentsRouter = router({
  deadLetters: adminProcedure
    .meta({ openapi: { method: "GET", path: "/agents/dead-letters", protect: true, tags: ["agents"], summary: "Agent turns that failed after their last attempt, newest first" } })
    .input(z.object({ limit: z.coerce.number().int().min(1).max(200).default(50), cursor: cursor.optional() }))
    .output(z.object({ turns: z.array(turnSchema), nextCursor: z.string().nullable().describe("pass as `cursor`") }))
    .query(async ({ ctx, input }) => {
      const { rows, next } = await listAgentDeadLetters(ctx.db, { limit: input.limit, before: input.cursor });
      return {
        turns: rows.map(({ id, createdAt, updatedAt, ...r }) => ({ turnId: id, ...r, createdAt: createdAt.toISOString(), updatedAt: updatedAt.toISOString() })),
        nextCursor: next ? encodeListCursor(next) : null,
      };
    }),

  retry: adminProcedure
    .meta({ openapi: { method: "POST", path: "/agents/dead-letters/{turnId}/retry", protect: true, tags: ["agents"], summary: "Replay a dead-lettered turn: the session goes back to its agent and the turn runs again" } })
    .input(z.object({ turnId: z.uuid() }))
    .output(z.object({ turnId: z.uuid(), sessionId: z.uuid(), state: z.string() }))
    .mutation(async ({ ctx, input }) => {
      registryFor(ctx.env);
      const turn = await getTurn(ctx.db, input.turnId.toLowerCase());
      if (!turn) throw new TRPCError({ code: "NOT_FOUND", message: `turn ${input.turnId} not found` });
      const result = (await sessionStub(ctx.env, turn.sessionId).replayTurn(turn.sessionId, turn.id)) as TurnResult;
      if (!result.ok) throw new TRPCError({ code: result.code, message: result.error });
      return { turnId: turn.id, sessionId: turn.sessionId, state: result.turn.state };
    }),

  health: adminProcedure
    .meta({ openapi: { method: "GET", path: "/agents/health", protect: true, tags: ["agents"], summary: "Per agent type: calls, failures, retries pending, dead letters, times, last error" } })
    .input(z.object({ hours: z.coerce.number().int().min(1).max(24 * 30).default(24) }))
    .output(
      z.object({
        since: isoDate,
        agents: z.array(
          z.object({
            agentType: z.string(),
            configured: z.boolean().describe("still in AGENTS"),
            calls: z.number().int().describe("attempts made"),
            failures: z.number().int().describe("turns that failed after their last attempt"),
            retriesPending: z.number().int(),
            deadLetters: z.number().int(),
            p50Ms: z.number().int().nullable().describe("turn time, customer message to stored reply"),
            p95Ms: z.number().int().nullable(),
            firstDeltaP50Ms: z.number().int().nullable().describe("turn start to the first streamed delta"),
            lastError: z.string().nullable(),
            lastErrorAt: isoDate.nullable(),
          }),
        ),
      }),
    )
    .query(async ({ ctx, input }) => {
      const registry = registryFor(ctx.env);
      const since = new Date(Date.now() - input.hours * 3_600_000);
      const rows = new Map((await agentHealth(ctx.db, since)).map((r) => [r.agentType, r]));
      const types = [...new Set([...Object.keys(registry), ...rows.keys()])].sort();
      return {
        since: since.toISOString(),
        agents: types.map((agentType) => {
          const r = rows.get(agentType);
          return {
            agentType,
            configured: agentType in registry,
            calls: r?.calls ?? 0,
            failures: r?.failures ?? 0,
            retriesPending: r?.retriesPending ?? 0,
            deadLetters: r?.deadLetters ?? 0,
            p50Ms: r?.p50Ms ?? null,
            p95Ms: r?.p95Ms ?? null,
            firstDeltaP50Ms: r?.firstDeltaP50Ms ?? null,
            lastError: r?.lastError ?? null,
            lastErrorAt: r?.lastErrorAt?.toISOString() ?? null,
          };
        }),
      };
    }),
});
