// Health, the OpenAPI document, and errors for malformed requests (never a 500).
import { inject } from "vitest";
import { describe, expect, it } from "vitest";
// @ts-expect-error plain ESM script without type declarations
import { startWorker } from "../../scripts/local-stack.mjs";
// @ts-expect-error plain ESM script without type declarations
import { startPgProxy } from "../../scripts/pg-proxy.mjs";
import { api, newUserId, token } from "../helpers";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

describe("GET /health", () => {
  it("reports the database as reachable", async () => {
    const res = await api("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "ok", db: { ok: true }, version: expect.any(String) });
    expect(res.body.db.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it("answers 503 when the database is unreachable, and API calls say so without leaking details", async () => {
    // A second Worker whose database connections all fail (its proxy refuses them).
    const outage = await startPgProxy({ mode: "relay", target: inject("proxyUrl") });
    outage.setBlocked(true);
    const worker = await startWorker({
      port: 19900 + Math.floor(Math.random() * 90),
      databaseUrl: inject("databaseUrl"),
      proxyUrl: outage.url,
      jwtSecret: inject("jwtSecret"),
      persistTo: mkdtempSync(join(tmpdir(), "edge-chat-down-")),
      stdio: "ignore",
    });
    try {
      const res = await fetch(`${worker.url}/health`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: "degraded", db: { ok: false } });
      const create = await fetch(`${worker.url}/api/sessions`, {
        method: "POST",
        headers: { authorization: `Bearer ${await token(newUserId())}`, "content-type": "application/json" },
        body: "{}",
      });
      expect(create.status).toBe(503);
      const body = (await create.json()) as { code: string; message: string };
      expect(body).toMatchObject({ code: "SERVICE_UNAVAILABLE", message: "the database is unavailable; retry shortly" });
      expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|stack|select|insert/i);

      // The same Worker recovers as soon as the database is back.
      outage.setBlocked(false);
      const again = await fetch(`${worker.url}/health`);
      expect(again.status).toBe(200);
    } finally {
      await worker.stop();
      await outage.close();
    }
  });
});

describe("the API surface", () => {
  it("serves an OpenAPI document covering every REST route", async () => {
    const res = await api("GET", "/openapi.json");
    expect(res.status).toBe(200);
    expect(res.body.openapi).toMatch(/^3\./);
    const routes = Object.entries(res.body.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(routes.sort()).toEqual(
      [
        "POST /sessions",
        "GET /sessions/{sessionId}",
        "PATCH /sessions/{sessionId}",
        "DELETE /sessions/{sessionId}",
        "POST /sessions/{sessionId}/resume",
        "POST /sessions/{sessionId}/resolve",
        "POST /sessions/{sessionId}/messages",
        "GET /sessions/{sessionId}/history",
        "GET /users/{userId}/sessions",
        "GET /users/{userId}/stats",
        "GET /admin/dead-letters",
        "GET /agents/dead-letters",
        "POST /agents/dead-letters/{turnId}/retry",
        "GET /agents/health",
        "GET /sessions/waiting",
        "POST /sessions/{sessionId}/handoff",
        "POST /sessions/{sessionId}/turns/cancel",
        "GET /search",
        "GET /sessions/{sessionId}/export",
        "POST /chat",
        "GET /chat/{sessionId}/stream",
        "POST /chat/{sessionId}/stop",
        // Not procedures: documented by hand in worker/openapi.ts.
        "GET /sessions/{sessionId}/ws",
        "POST /webhooks/agents/{agentType}",
      ].sort(),
    );
  });

  it("answers malformed requests with a 4xx that says what is wrong", async () => {
    const t = await token(newUserId());
    const badJson = await api("POST", "/sessions", { token: t, rawBody: "{not json", headers: { "content-type": "application/json" } });
    expect(badJson.status).toBe(400);
    const wrongType = await api("POST", "/sessions", { token: t, rawBody: "title=x", headers: { "content-type": "text/plain" } });
    expect(wrongType.status).toBe(415);
    const badTitle = await api("POST", "/sessions", { token: t, body: { title: 42 } });
    expect(badTitle.status).toBe(400);
    expect(badTitle.body.message).toMatch(/title/);
    const huge = await api("POST", "/sessions", { token: t, body: { metadata: { blob: "x".repeat(300_000) } } });
    expect(huge.status).toBe(413);
    const nowhere = await api("GET", "/api/nowhere", { token: t });
    expect(nowhere.status).toBe(404);
    const trpcBad = await api("POST", "/trpc/sessions.create", { token: t, body: { agentType: 7 } });
    expect(trpcBad.status).toBe(400);
    expect(trpcBad.body.error.message).toMatch(/agentType/);
  });
});
