// Starts the local stack: a database (the given PostgreSQL, or embedded PGlite), migrations, the
// Neon WebSocket proxy, and the Worker under `wrangler dev`. Used by `npm start`, the tests and the bench.
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const MIGRATIONS = join(ROOT, "drizzle");
/** The secret `npm start` signs and verifies tokens with when JWT_SECRET is not set. Local use only. */
export const LOCAL_JWT_SECRET = "local-development-secret-not-for-production";
/** What the Worker is told to dial in embedded mode; the proxy serves PGlite whatever the address. */
const PGLITE_URL = "postgres://postgres@pglite.localhost:5432/postgres";

/** Applies the committed drizzle/ migrations to a PostgreSQL reached over TCP. */
export async function migratePostgres(databaseUrl) {
  const { default: pg } = await import("pg");
  const { drizzle } = await import("drizzle-orm/node-postgres");
  const { migrate } = await import("drizzle-orm/node-postgres/migrator");
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await migrate(drizzle(client), { migrationsFolder: MIGRATIONS });
  } finally {
    await client.end();
  }
}

/**
 * With `databaseUrl`: migrate that PostgreSQL and proxy to it. Without: open (or create) an embedded
 * PGlite in `dataDir` (in memory when null), migrate it, and serve it through the same proxy.
 */
export async function startDatabase({ databaseUrl, dataDir = join(ROOT, ".data", "pglite"), proxyPort = 0 } = {}) {
  const { startPgProxy } = await import("./pg-proxy.mjs");
  if (databaseUrl) {
    await migratePostgres(databaseUrl);
    const proxy = await startPgProxy({ mode: "tcp", port: proxyPort });
    return { embedded: false, databaseUrl, proxyUrl: proxy.url, stop: () => proxy.close() };
  }
  const { PGlite } = await import("@electric-sql/pglite");
  const { drizzle } = await import("drizzle-orm/pglite");
  const { migrate } = await import("drizzle-orm/pglite/migrator");
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const pglite = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
  await migrate(drizzle({ client: pglite }), { migrationsFolder: MIGRATIONS });
  const proxy = await startPgProxy({ mode: "pglite", pglite, port: proxyPort });
  return {
    embedded: true,
    databaseUrl: PGLITE_URL,
    proxyUrl: proxy.url,
    stop: async () => {
      await proxy.close();
      await pglite.close();
    },
  };
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const wranglerEnv = {
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
};

/**
 * Runs the Worker with `wrangler dev` in its own process group (killing npm alone would leave
 * wrangler and workerd running). Resolves once it answers HTTP.
 */
export async function startWorker({
  port = 8787,
  databaseUrl,
  proxyUrl,
  jwtSecret = process.env.JWT_SECRET ?? LOCAL_JWT_SECRET,
  vars = {},
  persistTo = join(ROOT, ".wrangler", "state"),
  testScheduled = false,
  stdio = "inherit",
  config,
} = {}) {
  const allVars = { DATABASE_URL: databaseUrl, DB_WS_PROXY: proxyUrl, JWT_SECRET: jwtSecret, ...vars };
  // wrangler refuses to start when the static assets folder is missing: before the first build
  // (`npm run build:web`) the API still serves, and `/` is a 404 until the page is built.
  mkdirSync(join(ROOT, "dist", "web"), { recursive: true });
  // wrangler looks for a free devtools port from 9229 up; two starting at once can pick the same one.
  const inspectorPort = await freePort();
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort), "--persist-to", persistTo, "--show-interactive-dev-session=false"];
  for (const [k, v] of Object.entries(allVars)) if (v !== undefined) args.push("--var", `${k}:${v}`);
  if (testScheduled) args.push("--test-scheduled");
  if (config) args.push("--config", config);
  // Every `wrangler dev` on a machine shares one dev registry (~/.config/.wrangler/registry) by
  // default, and each instance reloads its Worker when that registry changes. Our Workers all have
  // the same name, so a test starting or stopping a Worker of its own reloaded every other one
  // mid-request ("Your worker restarted mid-request"). Each Worker gets a registry of its own.
  const env = { ...process.env, ...wranglerEnv, WRANGLER_REGISTRY_PATH: join(persistTo, ".registry") };
  delete env.CLOUDFLARE_API_TOKEN;
  const child = spawn(join(ROOT, "node_modules", ".bin", "wrangler"), args, { cwd: ROOT, env, detached: true, stdio });
  const url = `http://127.0.0.1:${port}`;
  let exited = null;
  const exit = new Promise((resolve) => child.once("exit", (code, signal) => resolve((exited = { code, signal }))));
  const stop = async () => {
    if (exited) return;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }, 5_000);
    await exit;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`wrangler dev exited early (${JSON.stringify(exited)})`);
    try {
      await fetch(`${url}/openapi.json`, { signal: AbortSignal.timeout(2_000) });
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error("wrangler dev did not start within 60 s");
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  return { url, pid: child.pid, stop, exit };
}
