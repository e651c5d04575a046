// Test helpers: tokens, raw HTTP calls, the typed client, and direct SQL for setting up time.
import { Pool, neonConfig } from "@neondatabase/serverless";
import { SignJWT } from "jose";
import { randomUUID } from "node:crypto";
import { inject } from "vitest";
import ws from "ws";
import { createChatClient } from "../client";

export const baseUrl = () => inject("baseUrl");

export function newUserId(prefix = "user") {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export async function token(
  userId: string,
  opts: { admin?: boolean; guest?: boolean; expiresIn?: string; secret?: string; extra?: Record<string, unknown> } = {},
) {
  const claims: Record<string, unknown> = { ...opts.extra };
  if (opts.admin) claims.role = "admin";
  if (opts.guest) claims.guest = true;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? "1h")
    .sign(new TextEncoder().encode(opts.secret ?? inject("jwtSecret")));
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** A raw REST call against /api (or any path starting with /). */
export async function api<T = any>(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string>; rawBody?: string } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined = opts.rawBody;
  if (opts.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  const url = path.startsWith("/api") || path.startsWith("/health") || path.startsWith("/openapi") || path.startsWith("/trpc") || path.startsWith("/__")
    ? `${baseUrl()}${path}`
    : `${baseUrl()}/api${path}`;
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed as T, headers: res.headers };
}

/** The typed tRPC client, as a frontend would use it. */
export async function client(userId: string, opts: Parameters<typeof token>[1] = {}) {
  const t = await token(userId, opts);
  return createChatClient({ url: baseUrl(), getToken: () => t, WebSocket: ws });
}

let pool: Pool | undefined;
/** SQL straight to the test database (through the same proxy the Worker uses), for setting up time. */
export function sql() {
  if (!pool) {
    const proxy = inject("proxyUrl").replace(/^ws:\/\//, "");
    neonConfig.webSocketConstructor = ws;
    neonConfig.wsProxy = (host, port) => `${proxy}/v2?address=${host}:${port}`;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    neonConfig.pipelineConnect = false;
    pool = new Pool({ connectionString: inject("databaseUrl"), max: 2 });
  }
  return pool;
}

/** Runs the Worker's cron handler now (wrangler dev --test-scheduled). */
export async function runCron() {
  const res = await fetch(`${baseUrl()}/__scheduled?cron=*+*+*+*+*`);
  if (!res.ok) throw new Error(`cron trigger failed: ${res.status}`);
}

/**
 * Waits until a session's messages up to `lastSeq` have left its Durable Object's outbox and are in
 * Postgres (acks come from the object's own storage; Postgres follows within milliseconds).
 */
export async function reachedPostgres(sessionId: string, lastSeq: number, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await sql().query(`select count(*)::int as n, coalesce(max(seq), 0)::int as max from chat_messages where session_id = $1`, [sessionId]);
    if (rows[0].max >= lastSeq) return rows[0] as { n: number; max: number };
    if (Date.now() > deadline) throw new Error(`session ${sessionId}: Postgres has seq ${rows[0].max}, expected ${lastSeq} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export type Frame = { type: string; [key: string]: any };

/**
 * A raw WebSocket to a session, recording every frame, for tests that look at the wire itself.
 * `open` resolves once the upgrade succeeded; a refused upgrade rejects with `{ status, body }`.
 */
export class TestSocket {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: ws) {
    ws.on("message", (data) => {
      this.frames.push(JSON.parse(String(data)));
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.on("close", (code, reason) => {
      resolve({ code, reason: String(reason) });
      for (const w of this.waiters.splice(0)) w();
    }));
  }

  static open(
    sessionId: string,
    auth: { token: string; via?: "query" | "protocol" },
    opts: { since?: number; base?: string } = {},
  ): Promise<TestSocket> {
    const base = (opts.base ?? baseUrl()).replace(/^http/, "ws");
    const params = new URLSearchParams();
    if (auth.via !== "protocol" && auth.token) params.set("token", auth.token);
    if (opts.since !== undefined) params.set("since", String(opts.since));
    const qs = params.size ? `?${params}` : "";
    const protocols = auth.via === "protocol" ? ["edge-chat", `bearer.${auth.token}`] : [];
    const socket = new ws(`${base}/api/sessions/${sessionId}/ws${qs}`, protocols);
    const t = new TestSocket(socket);
    return new Promise((resolve, reject) => {
      socket.once("open", () => resolve(t));
      socket.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c));
        res.on("end", () => {
          let parsed: unknown = body;
          try {
            parsed = JSON.parse(body);
          } catch {}
          reject({ status: res.statusCode, body: parsed });
        });
      });
      socket.once("error", (err) => reject(err));
    });
  }

  send(frame: unknown) {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Frames of one type, in arrival order. */
  of(type: string) {
    return this.frames.filter((f) => f.type === type);
  }

  /** Resolves once `predicate` holds over the frames received so far (checked on every new frame). */
  async until<T>(predicate: (frames: Frame[]) => T | undefined | false, timeoutMs = 10_000, what = "frames"): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const result = predicate(this.frames);
      if (result) return result;
      if (this.ws.readyState === ws.CLOSED) throw new Error(`socket closed while waiting for ${what}; got ${JSON.stringify(this.frames.slice(-5))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; last frames ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1_000));
        this.waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  /** Waits for the first frame of `type` (after `from` frames) matching `match`. */
  next(type: string, match: (f: Frame) => boolean = () => true, timeoutMs?: number) {
    return this.until((fs) => fs.find((f) => f.type === type && match(f)), timeoutMs, `a ${type} frame`);
  }

  /** The message frames' seqs, in arrival order. */
  seqs() {
    return this.of("message").map((f) => f.message.seq as number);
  }

  close() {
    this.ws.close(1000);
    return this.closed;
  }
}

/**
 * A Worker of its own, for tests that change limits or cut the database off: it reaches the shared
 * database through a relay proxy the test can block (`proxy.setBlocked(true)` is an outage), keeps
 * its Durable Object storage in its own folder, and can be killed and restarted on that storage.
 * `logFile`: wrangler's and the Worker's output (stdout and stderr) is appended to that file.
 */
export async function dedicatedWorker(vars: Record<string, string> = {}, opts: { logFile?: string } = {}) {
  const { freePort, startWorker } = await import("../scripts/local-stack.mjs" as string);
  const { startPgProxy } = await import("../scripts/pg-proxy.mjs" as string);
  const { TEST_VARS } = await import("./setup/global");
  const { closeSync, mkdtempSync, openSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const proxy = await startPgProxy({ mode: "relay", target: inject("proxyUrl") });
  const persistTo = mkdtempSync(join(tmpdir(), "edge-chat-dedicated-"));
  const port = await freePort();
  let logFd = opts.logFile ? openSync(opts.logFile, "a") : undefined;
  const start = () =>
    startWorker({
      port,
      databaseUrl: inject("databaseUrl"),
      proxyUrl: proxy.url,
      jwtSecret: inject("jwtSecret"),
      vars: { ...TEST_VARS, AGENTS: inject("quietAgents"), ...vars },
      persistTo,
      testScheduled: true,
      stdio: logFd !== undefined ? ["ignore", logFd, logFd] : process.env.WORKER_LOGS ? "inherit" : "ignore",
    });
  let worker = await start();
  const pids = [worker.pid as number];
  return {
    url: worker.url as string,
    /** Where its Durable Objects keep their storage. */
    persistTo,
    proxy: proxy as {
      url: string;
      /** Refuses every connection (and drops the open ones): Postgres is down. */
      setBlocked(blocked: boolean): void;
      /** Carries nothing and answers no new connection until released: the path to Postgres hangs. */
      setStalled(stalled: boolean): void;
      connections(): { open: number; peak: number; total: number };
      resetPeak(): void;
    },
    /** SIGKILL to wrangler and workerd: no shutdown, nothing flushed on the way out. */
    async kill() {
      process.kill(-worker.pid, "SIGKILL");
      await worker.exit;
    },
    async restart() {
      worker = await start();
      pids.push(worker.pid);
    },
    /** The process group of every wrangler this Worker ran as (one per start). */
    pids: () => [...pids],
    async stop() {
      await worker.stop();
      await proxy.close();
      if (logFd !== undefined) closeSync(logFd);
      logFd = undefined;
      rmSync(persistTo, { recursive: true, force: true });
    },
  };
}
