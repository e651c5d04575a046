// The Worker: Hono app serving tRPC at /trpc, the same procedures as REST at /api, health, OpenAPI, cron.
import { trpcServer } from "@hono/trpc-server";
import { sql } from "drizzle-orm";
import { Hono, type Context } from "hono";
import { setMetric, timing, type TimingVariables } from "hono/timing";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { secureHeaders } from "hono/secure-headers";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import { sweepSessions } from "../db/queries/sessions";
import { ConfigError, getConfig } from "./config";
import { createContext } from "./context";
import { isDatabaseUnavailable, openDb, type Db, type DbHandle } from "./db";
import { appRouter } from "./routers";
import { authenticate } from "./context";
import { loggable, retryAfterHeader } from "./errors";
import { takeToken } from "./rate-limiter";
import { toSession } from "./schemas";
import { mayReachSession, notifySession, sessionStub } from "./session";
import { sessionIdSchema } from "./session-id";
import { mountRest } from "./rest";
import { mountChat } from "./chat-stream";
import { exportSession } from "./export";
import { agentOf, agentRegistry } from "./agents/registry";
import { demoAgents } from "./demo-agents";
import { devLogin } from "./dev-login";
import { agentCallback } from "./webhooks";
import { docs } from "./docs";
import { openApiDocument } from "./openapi";

export type AppEnv = { Bindings: Env; Variables: { db: () => Db } & TimingVariables };

const app = new Hono<AppEnv>();

// Server-Timing: `total` for every response, plus what procedures record (e.g. the history query).
// Not on socket upgrades: a 101 response's headers cannot be changed.
const serverTiming = timing({ crossOrigin: true });
app.use("*", (c, next) => (c.req.header("upgrade") ? next() : serverTiming(c, next)));

// Security headers on every answer of the Worker (the API, /docs, /openapi.json, /health); the chat
// page and the other static assets get theirs from web/public/_headers. An API answer is never a page
// to render or frame: its CSP allows nothing. A handler's own CSP (the one /docs needs) is kept.
const securityHeaders = secureHeaders({
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
  xFrameOptions: "DENY",
  overwrite: false,
});
app.use("*", (c, next) => (c.req.header("upgrade") ? next() : securityHeaders(c, next)));

// Browser apps on other origins (a useChat UI, a frontend using client/) may call the API. Not on socket
// upgrades (a 101's headers cannot be changed; browsers do not preflight sockets). Preflights are
// answered here, before the rate limits.
const allowCors = createMiddleware<AppEnv>((c, next) => {
  if (c.req.header("upgrade")) return next();
  const allowed = getConfig(c.env).CORS_ORIGINS;
  return cors({
    origin: (origin) => (allowed.includes("*") ? "*" : allowed.includes(origin) ? origin : null),
    allowMethods: ["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
    allowHeaders: ["authorization", "content-type", "trpc-accept"],
    exposeHeaders: ["retry-after", "content-disposition", "server-timing", "x-vercel-ai-ui-message-stream"],
    maxAge: 600,
  })(c, next);
});
app.use("/api/*", allowCors);
app.use("/trpc/*", allowCors);

// One database pool per request, opened on first use and ended once the response is produced.
app.use("*", async (c, next) => {
  let handle: DbHandle | undefined;
  c.set("db", () => (handle ??= openDb(getConfig(c.env))).db);
  try {
    await next();
  } finally {
    if (handle) c.executionCtx.waitUntil(handle.close());
  }
});

// Bodies are small JSON documents; anything far larger is refused before it is parsed.
const limitBody = createMiddleware<AppEnv>((c, next) => {
  const maxSize = getConfig(c.env).MAX_BODY_BYTES;
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new HTTPException(413, { message: `request body is larger than ${maxSize} bytes` });
    },
  })(c, next);
});

// Per-client-IP request budget over the HTTP API (and socket upgrades), shared by all instances.
const limitIp = createMiddleware<AppEnv>(async (c, next) => {
  const config = getConfig(c.env);
  const ip = c.req.header("cf-connecting-ip") ?? c.req.header("x-real-ip") ?? "local";
  const retryAfterMs = await takeToken(c.env, `ip:${ip}`, config.HTTP_RATE_LIMIT, config.HTTP_RATE_WINDOW_SECONDS * 1000);
  if (retryAfterMs !== null) {
    c.header("retry-after", String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
    return c.json({ code: "TOO_MANY_REQUESTS", message: "too many requests from this address; slow down" }, 429);
  }
  await next();
});

const contextFor = (c: Context<AppEnv>) =>
  createContext({
    env: c.env,
    authorization: c.req.header("authorization"),
    db: c.get("db"),
    metric: (name, ms) => setMetric(c, name, Math.round(ms * 100) / 100),
    origin: new URL(c.req.url).origin,
  });

app.get("/health", async (c) => {
  const config = getConfig(c.env);
  const started = performance.now();
  let ok = false;
  try {
    await Promise.race([
      c.get("db")().execute(sql`select 1`),
      new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 3_000)),
    ]);
    ok = true;
  } catch (err) {
    console.error("health: database check failed", loggable(err));
  }
  const latencyMs = Math.round((performance.now() - started) * 10) / 10;
  const registry = agentRegistry(c.env);
  const agents = registry.ok ? { ok: true, types: Object.keys(registry.registry) } : { ok: false, error: registry.error };
  return c.json({ status: ok && registry.ok ? "ok" : "degraded", db: { ok, latencyMs }, agents, version: config.VERSION }, ok ? 200 : 503);
});

app.get("/openapi.json", (c) => c.json(openApiDocument(new URL(c.req.url).origin, getConfig(c.env).VERSION)));
// The interactive reference of that document (see worker/docs.ts).
app.route("/", docs);

// The session socket. Browsers cannot set headers on a WebSocket, so the token comes as ?token= or
// as a `bearer.<jwt>` entry in Sec-WebSocket-Protocol (offer "edge-chat" too; it is the one echoed).
app.get("/api/sessions/:sessionId/ws", limitIp, async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    return c.json({ code: "UPGRADE_REQUIRED", message: "this endpoint speaks WebSocket only" }, 426);
  }
  const parsedId = sessionIdSchema.safeParse(c.req.param("sessionId"));
  if (!parsedId.success) return c.json({ code: "BAD_REQUEST", message: "sessionId must be a UUID" }, 400);
  const sessionId = parsedId.data;
  const protocols = (c.req.header("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim()).filter(Boolean);
  const token = c.req.query("token") ?? protocols.find((p) => p.startsWith("bearer."))?.slice("bearer.".length);
  const { user, authError, authUnavailable } = await authenticate(token ? `Bearer ${token}` : null, getConfig(c.env));
  if (!user && authUnavailable) return c.json({ code: "SERVICE_UNAVAILABLE", message: authError }, 503, { "retry-after": "5" });
  if (!user) return c.json({ code: "UNAUTHORIZED", message: authError ?? "missing token (?token= or Sec-WebSocket-Protocol bearer.<jwt>)" }, 401);
  let reachable: boolean;
  try {
    reachable = await mayReachSession(getConfig(c.env), c.get("db"), sessionId);
  } catch (err) {
    if (!isDatabaseUnavailable(err)) throw err;
    return c.json({ code: "SERVICE_UNAVAILABLE", message: "the database is unavailable; retry shortly" }, 503);
  }
  if (!reachable) return c.json({ code: "NOT_FOUND", message: `session ${sessionId} not found` }, 404);
  // The object checks ownership (owner or admin) and refuses with 404 before upgrading.
  const headers = new Headers(c.req.raw.headers);
  headers.set("x-session-id", sessionId);
  headers.set("x-user-id", user.id);
  headers.set("x-user-role", user.role);
  headers.delete("x-accept-protocol");
  if (protocols.includes("edge-chat")) headers.set("x-accept-protocol", "edge-chat");
  return sessionStub(c.env, sessionId).fetch(new Request(c.req.raw.url, { headers }));
});

// Webhook agents' callbacks (see worker/webhooks.ts).
app.post("/api/webhooks/agents/:agentType", limitIp, limitBody, agentCallback);

// The built-in demo agents (reached by the registry's path urls through the SELF binding).
app.route(
  "/",
  demoAgents({
    secretFor: (name, env) => {
      const registry = agentRegistry(env);
      return registry.ok ? agentOf(registry.registry, name)?.secret : undefined;
    },
    callbackFetch: (env) => (url, init) => env.SELF.fetch(url, init),
  }),
);

// tRPC would take a multipart or octet-stream body as "no input" and run the call on defaults; our
// procedures take JSON only, so any other body is refused (in tRPC's error shape) before it runs.
const requireJson = createMiddleware<AppEnv>(async (c, next) => {
  const type = (c.req.header("content-type") ?? "").toLowerCase();
  const length = c.req.header("content-length");
  const hasBody = length !== undefined ? length !== "0" : c.req.header("transfer-encoding") !== undefined;
  if (c.req.method === "POST" && hasBody && !type.startsWith("application/json")) {
    const message = "request body must be application/json";
    return c.json({ error: { message, code: -32600, data: { code: "UNSUPPORTED_MEDIA_TYPE", httpStatus: 415 } } }, 415);
  }
  await next();
});

app.use(
  "/trpc/*",
  limitIp,
  limitBody,
  requireJson,
  trpcServer({
    router: appRouter,
    endpoint: "/trpc",
    createContext: (_opts, c) => contextFor(c),
    responseMeta: ({ errors }) => {
      const retryAfter = errors.map(retryAfterHeader).find((v) => v !== null);
      return retryAfter ? { headers: new Headers({ "retry-after": retryAfter }) } : {};
    },
    onError: ({ error, path }) => {
      if (error.code === "INTERNAL_SERVER_ERROR") console.error(`trpc ${path}:`, loggable(error.cause ?? error));
    },
  }),
);

app.use("/api/*", limitIp, limitBody);
mountChat(app, contextFor);
// REST only (a streamed file, not a procedure): see worker/export.ts.
app.get("/api/sessions/:sessionId/export", exportSession(contextFor));
// Development sign-in for the chat page; a 404 unless DEV_LOGIN is set (see worker/dev-login.ts).
app.route("/", devLogin());
mountRest(app, contextFor);

app.notFound((c) => c.json({ code: "NOT_FOUND", message: `no route for ${c.req.method} ${new URL(c.req.url).pathname}` }, 404));

app.onError((err, c) => {
  if (err instanceof HTTPException) {
    return c.json({ code: err.status === 413 ? "PAYLOAD_TOO_LARGE" : "HTTP_ERROR", message: err.message }, err.status);
  }
  if (err instanceof ConfigError) {
    console.error(err.message);
    return c.json({ code: "INTERNAL_SERVER_ERROR", message: "server is misconfigured" }, 500);
  }
  console.error("unhandled", loggable(err));
  return c.json({ code: "INTERNAL_SERVER_ERROR", message: "internal error" }, 500);
});

async function scheduled(_controller: ScheduledController, env: Env, ctx: ExecutionContext) {
  const config = getConfig(env);
  const handle = openDb(config);
  try {
    const { expired, idled } = await sweepSessions(handle.db, config.SESSION_IDLE_MINUTES);
    if (expired.length + idled.length > 0) console.log(`sweep: ${expired.length} expired, ${idled.length} idle`);
    // Their objects push the change to open sockets (and close them on expiry).
    await Promise.all([...expired, ...idled].map((row) => notifySession(env, toSession(row))));
  } finally {
    ctx.waitUntil(handle.close());
  }
}

export { ChatSession } from "./session/chat-session";
export { RateLimiter } from "./rate-limiter";
export { OutboxWriter } from "./outbox-writer";
export type { AppRouter } from "./routers";

export default { fetch: app.fetch, scheduled } satisfies ExportedHandler<Env>;
