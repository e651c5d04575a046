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
  return createChatClient({ url: baseUrl(), token: await token(userId, opts) });
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
