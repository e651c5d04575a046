// Starts one database + proxy + Worker for the whole run; tests reach them through inject().
import type { TestProject } from "vitest/node";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// @ts-expect-error plain ESM script without type declarations
import { startDatabase, startWorker } from "../../scripts/local-stack.mjs";

export const TEST_JWT_SECRET = "test-secret-0123456789abcdef0123456789";

/** Limits for the shared test Worker: high enough not to interfere; rate-limit tests start their own. */
export const TEST_VARS = {
  MESSAGE_RATE_PER_MINUTE: "100000",
  MESSAGE_BURST: "1000",
  HTTP_RATE_LIMIT: "100000",
  SESSION_CREATE_LIMIT: "100000",
  OUTBOX_MAX_BACKOFF_SECONDS: "1",
  REPLAY_LIMIT: "100",
};

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    proxyUrl: string;
    databaseUrl: string;
    embedded: boolean;
    jwtSecret: string;
  }
}

export default async function setup(project: TestProject) {
  const state = mkdtempSync(join(tmpdir(), "edge-chat-test-"));
  const db = await startDatabase({ databaseUrl: process.env.DATABASE_URL || undefined, dataDir: null });
  const port = 18787 + Math.floor(Math.random() * 1000);
  const worker = await startWorker({
    port,
    databaseUrl: db.databaseUrl,
    proxyUrl: db.proxyUrl,
    jwtSecret: TEST_JWT_SECRET,
    vars: TEST_VARS,
    persistTo: state,
    testScheduled: true,
    stdio: process.env.WORKER_LOGS ? "inherit" : "ignore",
  });
  project.provide("baseUrl", worker.url);
  project.provide("proxyUrl", db.proxyUrl);
  project.provide("databaseUrl", db.databaseUrl);
  project.provide("embedded", db.embedded);
  project.provide("jwtSecret", TEST_JWT_SECRET);
  return async () => {
    await worker.stop();
    await db.stop();
    rmSync(state, { recursive: true, force: true });
  };
}
