// `npm start` with a bad agent registry refuses to start and names the field (a deployed Worker keeps
// serving and says so per request: see agents-turns.test.ts).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, inject, it } from "vitest";

it("npm start refuses a bad AGENTS, naming the field", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "edge-chat-start-"));
  const { freePort } = await import("../../scripts/local-stack.mjs" as string);
  const env: Record<string, string | undefined> = {
    ...process.env,
    PORT: String(await freePort()),
    AGENTS: JSON.stringify({ primary: { url: "ftp://agents.example.com" } }),
    EDGE_CHAT_DATA_DIR: dataDir,
  };
  // The test database when it is a real PostgreSQL; otherwise npm start's own embedded one.
  if (inject("embedded")) delete env.DATABASE_URL;
  else env.DATABASE_URL = inject("databaseUrl");
  const child = spawn(process.execPath, ["scripts/dev.mjs"], { cwd: join(import.meta.dirname, "..", ".."), env: env as NodeJS.ProcessEnv, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {}
      resolve(null);
    }, 90_000);
    child.once("exit", (c) => (clearTimeout(timer), resolve(c)));
  });
  rmSync(dataDir, { recursive: true, force: true });
  expect(code).toBe(1);
  expect(output).toContain("edge-chat cannot start: invalid AGENTS: AGENTS.primary.url: must be an http(s) URL");
  expect(output).not.toContain("edge-chat is serving");
}, 120_000);
