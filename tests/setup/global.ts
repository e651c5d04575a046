// Starts one database + proxy + Worker for the whole run; tests reach them through inject().
import type { TestProject } from "vitest/node";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// @ts-expect-error plain ESM script without type declarations
import { startDatabase, startWorker } from "../../scripts/local-stack.mjs";
import { accepted, startAgentServer } from "../agents/agent-server";

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
    /** AGENTS for Workers of tests that are not about agents (see below). */
    quietAgents: string;
  }
}

/**
 * The agents of the shared Worker: webhook agents that accept every turn and never call back, so the
 * tests that are not about agents see their own messages only (no replies taking seqs). The agent
 * tests start Workers with agents of their own.
 */
function quietAgents(url: string) {
  const agent = { url: `${url}/quiet`, secret: "quiet-agents-secret", callbackTimeoutMs: 86_400_000 };
  return JSON.stringify(Object.fromEntries(["primary", "router", "research", "log_analysis"].map((t) => [t, agent])));
}

/** A file for a Worker's output; `report()` prints the lines that say it reloaded, restarted or failed. */
function workerLog(name: string) {
  const dir = join(process.cwd(), "test-results", "logs");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.log`);
  const fd = openSync(path, "w");
  return {
    fd,
    report() {
      closeSync(fd);
      const notable = readFileSync(path, "utf8")
        .split("\n")
        .filter((line) => /reload|restart|detected change|exited|✘|\[ERROR\]|segmentation|out of memory/i.test(line));
      if (notable.length > 0) console.log(`${name} (full log: ${path}):\n${notable.slice(0, 40).join("\n")}`);
    },
  };
}

export default async function setup(project: TestProject) {
  const state = mkdtempSync(join(tmpdir(), "edge-chat-test-"));
  const db = await startDatabase({ databaseUrl: process.env.DATABASE_URL || undefined, dataDir: null });
  const agents = await startAgentServer();
  agents.on("/quiet", accepted());
  const port = 18787 + Math.floor(Math.random() * 1000);
  const log = workerLog("shared-worker");
  const worker = await startWorker({
    port,
    databaseUrl: db.databaseUrl,
    proxyUrl: db.proxyUrl,
    jwtSecret: TEST_JWT_SECRET,
    // DEV_LOGIN here only: dedicated Workers start without it unless a test asks (tests/e2e/dev-login.test.ts).
    vars: { ...TEST_VARS, AGENTS: quietAgents(agents.url), DEV_LOGIN: "1" },
    persistTo: state,
    testScheduled: true,
    // Kept in a file (test-results/logs/) rather than dropped: when the shared Worker reloads or its
    // runtime restarts mid-run, the teardown below says so in the test output.
    stdio: process.env.WORKER_LOGS ? "inherit" : ["ignore", log.fd, log.fd],
  });
  project.provide("baseUrl", worker.url);
  project.provide("proxyUrl", db.proxyUrl);
  project.provide("databaseUrl", db.databaseUrl);
  project.provide("embedded", db.embedded);
  project.provide("jwtSecret", TEST_JWT_SECRET);
  project.provide("quietAgents", quietAgents(agents.url));
  return async () => {
    await worker.stop();
    log.report();
    await agents.close();
    await db.stop();
    rmSync(state, { recursive: true, force: true });
  };
}
