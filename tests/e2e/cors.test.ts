// CORS: by default (a deployment) no other origin's page may call the API; CORS_ORIGINS lists the
// ones that may (or "*", which `npm start` sets for local frontends). Preflights are answered before
// the rate limits, and socket upgrades are left alone.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { baseUrl, dedicatedWorker } from "../helpers";

const preflight = (base: string, path: string, origin: string) =>
  fetch(`${base}${path}`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
  });

describe("CORS", () => {
  it("by default lets no other origin call the API, while the Worker's own pages still can", async () => {
    // The shared test Worker runs with wrangler.toml's CORS_ORIGINS, as a deployment does.
    for (const path of ["/api/chat", "/api/sessions", "/trpc/sessions.create"]) {
      const res = await preflight(baseUrl(), path, "https://app.example.com");
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
    }
    const answer = await fetch(`${baseUrl()}/api/users/someone/sessions`, { headers: { origin: "https://app.example.com" } });
    expect(answer.status).toBe(401);
    // Without this header the browser keeps the answer from the other origin's script.
    expect(answer.headers.get("access-control-allow-origin")).toBeNull();
    // Same origin (the chat page, /docs): CORS does not apply; the API answers as ever.
    const own = await fetch(`${baseUrl()}/health`, { headers: { origin: baseUrl() } });
    expect(own.status).toBe(200);
  });

  describe("with CORS_ORIGINS set", () => {
    let listed: Awaited<ReturnType<typeof dedicatedWorker>>;
    let any: Awaited<ReturnType<typeof dedicatedWorker>>;
    beforeAll(async () => {
      [listed, any] = await Promise.all([
        dedicatedWorker({ CORS_ORIGINS: "https://app.example.com, https://admin.example.com/" }),
        dedicatedWorker({ CORS_ORIGINS: "*" }),
      ]);
    });
    afterAll(() => Promise.all([listed?.stop(), any?.stop()]));

    it("allows the listed origins only", async () => {
      for (const origin of ["https://app.example.com", "https://admin.example.com"]) {
        const res = await preflight(listed.url, "/api/chat", origin);
        expect(res.headers.get("access-control-allow-origin")).toBe(origin);
      }
      const other = await preflight(listed.url, "/api/chat", "https://evil.example.com");
      expect(other.headers.get("access-control-allow-origin")).toBeNull();
    });

    it('"*" lets any origin call the API, with the headers a client reads exposed', async () => {
      for (const path of ["/api/chat", "/api/sessions", "/trpc/sessions.create"]) {
        const res = await preflight(any.url, path, "https://app.example.com");
        expect(res.status).toBe(204);
        expect(res.headers.get("access-control-allow-origin")).toBe("*");
        expect(res.headers.get("access-control-allow-headers")).toMatch(/authorization/);
        expect(res.headers.get("access-control-allow-methods")).toMatch(/POST/);
      }
      const answer = await fetch(`${any.url}/api/users/someone/sessions`, { headers: { origin: "https://app.example.com" } });
      expect(answer.status).toBe(401);
      expect(answer.headers.get("access-control-allow-origin")).toBe("*");
      expect(answer.headers.get("access-control-expose-headers")).toMatch(/retry-after/);
      expect(answer.headers.get("access-control-expose-headers")).toMatch(/x-vercel-ai-ui-message-stream/);
    });
  });

  it("npm start allows any origin, for frontends on other local ports", async () => {
    const { freePort } = await import("../../scripts/local-stack.mjs" as string);
    const port: number = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), "edge-chat-cors-start-"));
    const env: Record<string, string | undefined> = { ...process.env, PORT: String(port), EDGE_CHAT_DATA_DIR: dataDir };
    delete env.CORS_ORIGINS;
    if (inject("embedded")) delete env.DATABASE_URL;
    else env.DATABASE_URL = inject("databaseUrl");
    const child = spawn(process.execPath, ["scripts/dev.mjs"], { cwd: join(import.meta.dirname, "..", ".."), env: env as NodeJS.ProcessEnv, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      await expect.poll(() => output, { timeout: 90_000, interval: 200 }).toContain("edge-chat is serving");
      const res = await preflight(`http://127.0.0.1:${port}`, "/api/sessions", "http://localhost:5173");
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
    } finally {
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {}
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
