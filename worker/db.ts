// Postgres access for one request (or one Durable Object flush): Drizzle over the Neon driver.
import { Pool, neonConfig } from "@neondatabase/serverless";
import { drizzle, type NeonDatabase } from "drizzle-orm/neon-serverless";
import * as schema from "../db/schema";

export type Db = NeonDatabase<typeof schema>;

export interface DbHandle {
  db: Db;
  /** Ends the pool; call it (or hand it to waitUntil) when the request is done. */
  close(): Promise<void>;
}

/**
 * Neon's guidance: a Pool must not outlive the request that made it. So every request (and every
 * Durable Object flush) opens its own, small pool and ends it afterwards.
 */
export function openDb(
  env: { DATABASE_URL: string; DB_WS_PROXY?: string | undefined },
  timeouts: { connectTimeoutMs?: number; queryTimeoutMs?: number } = {},
): DbHandle {
  if (env.DB_WS_PROXY) {
    // Local development: reach a plain Postgres (or the embedded PGlite) through scripts/pg-proxy.mjs.
    const proxy = env.DB_WS_PROXY.replace(/^wss?:\/\//, "");
    neonConfig.wsProxy = (host, port) => `${proxy}/v2?address=${host}:${port}`;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    neonConfig.pipelineConnect = false;
  }
  const pool = new Pool({
    connectionString: env.DATABASE_URL,
    // Workers allow 6 simultaneous outgoing connections per request.
    max: 4,
    connectionTimeoutMillis: timeouts.connectTimeoutMs ?? 5_000,
    // A query that hangs must fail rather than hold a request (or an outbox flush) forever.
    statement_timeout: 15_000,
    query_timeout: timeouts.queryTimeoutMs ?? 20_000,
  });
  // A dropped connection must not crash the isolate; the failing query reports it.
  pool.on("error", () => {});
  let closed: Promise<void> | undefined;
  return {
    db: drizzle({ client: pool, schema }),
    close: () => (closed ??= pool.end().catch(() => {})),
  };
}

/**
 * True when an error means Postgres could not be reached (connect refused, timed out, connection
 * dropped), as opposed to an error Postgres itself reported (those carry a `severity`) or a bug.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    if (typeof (e as { severity?: unknown }).severity === "string") return false;
    if (typeof e !== "object") return false;
    // The driver reports a failed WebSocket as an ErrorEvent, not an Error.
    if (!(e instanceof Error)) return (e as { type?: unknown }).type === "error";
    if (e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError || e instanceof SyntaxError) return false;
    if (/connect|connection|terminated|socket|ECONNREFUSED|ECONNRESET|network/i.test(e.message)) return true;
  }
  return false;
}
