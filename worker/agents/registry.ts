// The agent registry: AGENTS (a JSON var, or a secret of the same name) says how each agent type is
// called. Parsed once per isolate; a bad entry is an error naming the field, never a crash mid-turn.
import * as z from "zod";
import { webhookFor } from "./request";

export const agentFormats = ["edge-chat", "openai-chat", "n8n-chat"] as const;

function isUrl(u: string) {
  try {
    new URL(u);
    return true;
  } catch {
    return false;
  }
}

const ms = (fallback: number, max: number) => z.number().int().min(1).max(max).default(fallback);

const agentSchema = z
  .strictObject({
    /** POSTed to. An absolute http(s) URL, or a path on this Worker (the built-in demo agents), reached through its SELF binding. */
    url: z
      .string()
      .refine((u) => u.startsWith("/") || (/^https?:\/\/[^\s]+$/.test(u) && isUrl(u)), "must be an http(s) URL or a path on this Worker starting with /")
      .optional(),
    /** Steps, each an agent type with a url, run in order. */
    pipeline: z.array(z.string().min(1)).min(1).max(10).optional(),
    format: z.enum(agentFormats).default("edge-chat"),
    /** Signs requests and verifies callbacks: `whsec_…` (base64, per Standard Webhooks) or a plain string used as its UTF-8 bytes. */
    secret: z.string().min(1).optional(),
    timeoutMs: ms(30_000, 600_000),
    maxAttempts: z.number().int().min(1).max(20).default(3),
    retryBaseMs: ms(1_000, 3_600_000),
    historyLimit: z.number().int().min(0).max(200).default(20),
    callbackTimeoutMs: ms(300_000, 86_400_000),
    concurrency: z.enum(["queue", "merge"]).default("queue"),
    model: z.string().min(1).optional(),
    systemPrompt: z.string().optional(),
  })
  .refine((a) => (a.url === undefined) !== (a.pipeline === undefined), "needs exactly one of url and pipeline");

export type AgentConfig = z.infer<typeof agentSchema>;
export type Registry = Record<string, AgentConfig>;

const registrySchema = z
  .record(z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, "agent types are lower-case letters, digits, _ and - (at most 64)"), agentSchema)
  .superRefine((registry, ctx) => {
    if (Object.keys(registry).length === 0) ctx.addIssue({ code: "custom", message: "declares no agent", path: [] });
    for (const [type, agent] of Object.entries(registry)) {
      for (const [i, step] of (agent.pipeline ?? []).entries()) {
        const target = registry[step];
        if (!target) ctx.addIssue({ code: "custom", message: `step "${step}" is not an agent type in AGENTS`, path: [type, "pipeline", i] });
        else if (!target.url) ctx.addIssue({ code: "custom", message: `step "${step}" is itself a pipeline; steps must have a url`, path: [type, "pipeline", i] });
      }
      if (agent.secret?.startsWith("whsec_")) {
        try {
          webhookFor(agent.secret);
        } catch {
          ctx.addIssue({ code: "custom", message: "a whsec_ secret must be base64 after the prefix (or use a plain string without it)", path: [type, "secret"] });
        }
      }
      if (agent.format !== "openai-chat" && (agent.model !== undefined || agent.systemPrompt !== undefined)) {
        ctx.addIssue({ code: "custom", message: "model and systemPrompt apply to the openai-chat format only", path: [type, "format"] });
      }
    }
  });

export class AgentConfigError extends Error {
  override name = "AgentConfigError";
}

const cache = new WeakMap<object, { ok: true; registry: Registry } | { ok: false; error: string }>();

/** Parses AGENTS: the registry, or an error that names the field (e.g. `AGENTS.primary.url: …`). */
export function parseRegistry(raw: string | undefined): { ok: true; registry: Registry } | { ok: false; error: string } {
  if (raw === undefined || raw.trim() === "") return { ok: false, error: "AGENTS is not set: it must map each agent type to how it is called" };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    // Only the position: the parser's message quotes the text around it, which may be a secret.
    const position = /position (\d+)/.exec(err instanceof Error ? err.message : "")?.[1];
    return { ok: false, error: `AGENTS is not valid JSON${position ? ` (at character ${position})` : ""}` };
  }
  const parsed = registrySchema.safeParse(json);
  // No prototype: an agent type like "constructor" or "toString" must find nothing.
  if (parsed.success) return { ok: true, registry: Object.assign(Object.create(null) as Registry, parsed.data) };
  const issues = parsed.error.issues.map((i) => `${["AGENTS", ...i.path.map(String)].join(".")}: ${i.message}`);
  return { ok: false, error: `invalid AGENTS: ${issues.join("; ")}` };
}

/** The registry for this environment (parsed once per isolate). */
export function agentRegistry(env: Env): { ok: true; registry: Registry } | { ok: false; error: string } {
  const hit = cache.get(env);
  if (hit) return hit;
  const result = parseRegistry((env as { AGENTS?: string }).AGENTS);
  if (!result.ok) console.error(result.error);
  cache.set(env, result);
  return result;
}

/** The registry, or an AgentConfigError for a caller that cannot go on without it. */
export function requireRegistry(env: Env): Registry {
  const result = agentRegistry(env);
  if (!result.ok) throw new AgentConfigError(result.error);
  return result.registry;
}

/** The settings of an agent type, or undefined (own keys only). */
export function agentOf(registry: Registry, type: string): AgentConfig | undefined {
  return Object.hasOwn(registry, type) ? registry[type] : undefined;
}

/** The agent types a session may have: the registry's entries, those that are pipeline steps only included. */
export const agentTypes = (registry: Registry) => Object.keys(registry);
