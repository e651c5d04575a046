#!/usr/bin/env node
// `npm start`: the Worker on http://127.0.0.1:8787 with DATABASE_URL's PostgreSQL, or embedded PGlite.
import { execSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { startDatabase, startWorker } from "./local-stack.mjs";

// `npm install` builds the client, the chat page and the docs' script; build them here when that was skipped.
if (!existsSync("client/dist/index.js") || !existsSync("dist/web/index.html") || !existsSync("dist/web/vendor/scalar/standalone.js")) {
  console.log("building the client, the chat page and the docs (npm run build)…");
  execSync("npm run -s build", { stdio: "inherit" });
}

const port = Number(process.env.PORT ?? 8787);
const db = await startDatabase({
  databaseUrl: process.env.DATABASE_URL || undefined,
  ...(process.env.EDGE_CHAT_DATA_DIR ? { dataDir: process.env.EDGE_CHAT_DATA_DIR } : {}),
});
console.log(db.embedded ? `database: embedded PGlite in ${process.env.EDGE_CHAT_DATA_DIR ?? ".data/pglite"}` : `database: ${process.env.DATABASE_URL}`);
// AGENTS from the environment wins over wrangler.toml (and .dev.vars): `AGENTS='{…}' npm start`.
// DEV_LOGIN turns on the chat page's development sign-in (POST /api/dev/token): local only, never deployed.
// CORS_ORIGINS: a deployed Worker allows no other origin by default (wrangler.toml); locally any
// frontend (a Vite dev server on another port, say) may call the API, unless .dev.vars or the
// environment says otherwise.
const devVars = existsSync(".dev.vars") ? readFileSync(".dev.vars", "utf8") : "";
const vars = {
  DEV_LOGIN: "1",
  ...(process.env.AGENTS ? { AGENTS: process.env.AGENTS } : {}),
  ...(process.env.CORS_ORIGINS !== undefined ? { CORS_ORIGINS: process.env.CORS_ORIGINS } : /^\s*CORS_ORIGINS\s*=/m.test(devVars) ? {} : { CORS_ORIGINS: "*" }),
};
const worker = await startWorker({ port, databaseUrl: db.databaseUrl, proxyUrl: db.proxyUrl, testScheduled: true, vars });

// A bad agent registry (AGENTS in wrangler.toml or .dev.vars) stops here, naming the field.
const health = await fetch(`${worker.url}/health`).then((r) => r.json()).catch(() => null);
if (health && health.agents && !health.agents.ok) {
  console.error(`\nedge-chat cannot start: ${health.agents.error}\n`);
  await worker.stop();
  await db.stop();
  process.exit(1);
}
console.log(`edge-chat is serving on ${worker.url}  (the chat page: ${worker.url}/, health: ${worker.url}/health, API: ${worker.url}/openapi.json)`);
console.log(`agents: ${health?.agents?.types?.join(", ") ?? "unknown"}`);
console.log("get a token: npm run token -- <userId> [--admin] [--guest]");

// wrangler does not run cron triggers locally: run the sweep (idle and expiry) every minute, as deployed.
const cron = setInterval(() => {
  fetch(`${worker.url}/__scheduled?cron=*+*+*+*+*`).catch((err) => console.error("local cron trigger failed:", err.message));
}, 60_000);
cron.unref();

let stopping = false;
async function shutdown(code = 0) {
  if (stopping) return;
  stopping = true;
  await worker.stop();
  await db.stop();
  process.exit(code);
}
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
worker.exit.then(() => shutdown(1));
