// Runtime configuration: the Worker's vars and secrets, parsed once per isolate with zod.
import * as z from "zod";

const intVar = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const configSchema = z.object({
  DATABASE_URL: z.string().min(1, "DATABASE_URL is not set"),
  /** Local development only: the WebSocket→TCP proxy the Neon driver dials (see scripts/pg-proxy.mjs). */
  DB_WS_PROXY: z.string().optional(),
  JWT_SECRET: z.string().optional(),
  JWT_JWKS_URL: z.url().optional(),
  /** The agent registry is parsed on its own (worker/agents/registry.ts): a bad one fails only what needs agents. */
  DEFAULT_AGENT_TYPE: z.string().default("primary"),
  /** Masked before a message is stored or an agent sees it: a comma list of card, iban; or none. */
  REDACT: z
    .string()
    .default("card,iban")
    .transform((s) => s.split(",").map((t) => t.trim().toLowerCase()).filter((t) => t && t !== "none"))
    .pipe(z.array(z.enum(["card", "iban"])))
    .transform((kinds) => new Set(kinds) as ReadonlySet<"card" | "iban">),
  AGENT_UNAVAILABLE_TEXT: z.string().min(1).default("Sorry, our assistant is unavailable right now. A member of our team will reply here shortly."),
  /** The public origin agents call back to (default: the origin of the request that reached the session). */
  PUBLIC_URL: z.url().optional(),
  /**
   * Origins whose pages may call the API from a browser besides the Worker's own: a comma list of
   * exact origins, or "*" for any (the API authenticates with bearer tokens, never cookies). Empty
   * (the default) allows none: only the Worker's own pages (the chat page, /docs). `npm start` sets "*".
   */
  CORS_ORIGINS: z
    .string()
    .default("")
    .transform((s) => s.split(",").map((o) => o.trim().replace(/\/$/, "")).filter(Boolean)),
  MAX_OPEN_SESSIONS_PER_AGENT: intVar(5),
  SESSION_IDLE_MINUTES: z.coerce.number().positive().default(30),
  GUEST_SESSION_TTL_HOURS: intVar(24),
  USER_SESSION_TTL_HOURS: intVar(168),
  /** Signs the session ids this deployment issues (default: JWT_SECRET); see worker/session-id.ts. */
  SESSION_ID_SECRET: z.string().min(16, "SESSION_ID_SECRET must be at least 16 characters").optional(),
  MAX_CONTENT_BYTES: intVar(8192),
  /** Client JSON (metadata of messages, sessions and frames): nesting depth and serialised size. */
  MAX_JSON_DEPTH: intVar(16),
  MAX_METADATA_BYTES: intVar(8192),
  MAX_SESSION_METADATA_BYTES: intVar(16384),
  MAX_FRAME_BYTES: intVar(65536),
  MAX_BODY_BYTES: intVar(262144),
  MESSAGE_RATE_PER_MINUTE: intVar(60),
  MESSAGE_BURST: intVar(10),
  HTTP_RATE_LIMIT: intVar(300),
  HTTP_RATE_WINDOW_SECONDS: intVar(900),
  SESSION_CREATE_LIMIT: intVar(3),
  SESSION_CREATE_WINDOW_SECONDS: intVar(300),
  REPLAY_LIMIT: intVar(1000),
  OUTBOX_MAX_BACKOFF_SECONDS: z.coerce.number().positive().default(30),
  OUTBOX_FLUSH_DELAY_MS: z.coerce.number().int().min(0).default(25),
  OUTBOX_FLUSH_INTERVAL_MS: z.coerce.number().int().min(0).default(250),
  OUTBOX_WRITERS: intVar(4),
  VERSION: z.string().default("0.1.0"),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The key session ids are tagged with (see worker/session-id.ts). */
export const sessionIdSecret = (config: Config): string => (config.SESSION_ID_SECRET ?? config.JWT_SECRET)!;

/** The configured limits for client JSON of a kind. */
export function jsonLimits(config: Config, kind: "message" | "session") {
  return {
    maxDepth: config.MAX_JSON_DEPTH,
    maxBytes: kind === "message" ? config.MAX_METADATA_BYTES : config.MAX_SESSION_METADATA_BYTES,
  };
}

const cache = new WeakMap<object, Config>();

/** Parses the environment once per isolate; a misconfiguration names the offending variable. */
export function getConfig(env: Env): Config {
  const hit = cache.get(env);
  if (hit) return hit;
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new ConfigError(`invalid configuration: ${issues}`);
  }
  const config = parsed.data;
  if (!config.SESSION_ID_SECRET && !config.JWT_SECRET) {
    throw new ConfigError("invalid configuration: SESSION_ID_SECRET (or JWT_SECRET) must be set to sign session ids");
  }
  cache.set(env, config);
  return config;
}
