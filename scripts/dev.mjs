#!/usr/bin/env node
// `npm start`: the Worker on http://127.0.0.1:8787 with DATABASE_URL's PostgreSQL, or embedded PGlite.
import { startDatabase, startWorker } from "./local-stack.mjs";

const port = Number(process.env.PORT ?? 8787);
const db = await startDatabase({
  databaseUrl: process.env.DATABASE_URL || undefined,
  ...(process.env.EDGE_CHAT_DATA_DIR ? { dataDir: process.env.EDGE_CHAT_DATA_DIR } : {}),
});
console.log(db.embedded ? `database: embedded PGlite in ${process.env.EDGE_CHAT_DATA_DIR ?? ".data/pglite"}` : `database: ${process.env.DATABASE_URL}`);
const worker = await startWorker({ port, databaseUrl: db.databaseUrl, proxyUrl: db.proxyUrl });
console.log(`edge-chat is serving on ${worker.url}  (health: ${worker.url}/health, API: ${worker.url}/openapi.json)`);
console.log("get a token: npm run token -- <userId> [--admin] [--guest]");

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
