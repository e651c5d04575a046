// CORS: browsers on other origins may call the API (any origin by default, or the CORS_ORIGINS list);
// preflights are answered before the rate limits, and socket upgrades are left alone.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseUrl, dedicatedWorker } from "../helpers";

const preflight = (base: string, path: string, origin: string) =>
  fetch(`${base}${path}`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
  });

describe("CORS", () => {
  it("lets any origin call the API by default, with the headers a client reads exposed", async () => {
    for (const path of ["/api/chat", "/api/sessions", "/trpc/sessions.create"]) {
      const res = await preflight(baseUrl(), path, "https://app.example.com");
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(res.headers.get("access-control-allow-headers")).toMatch(/authorization/);
      expect(res.headers.get("access-control-allow-methods")).toMatch(/POST/);
    }
    const answer = await fetch(`${baseUrl()}/api/users/someone/sessions`, { headers: { origin: "https://app.example.com" } });
    expect(answer.status).toBe(401);
    expect(answer.headers.get("access-control-allow-origin")).toBe("*");
    expect(answer.headers.get("access-control-expose-headers")).toMatch(/retry-after/);
    expect(answer.headers.get("access-control-expose-headers")).toMatch(/x-vercel-ai-ui-message-stream/);
  });

  describe("with CORS_ORIGINS set", () => {
    let worker: Awaited<ReturnType<typeof dedicatedWorker>>;
    beforeAll(async () => {
      worker = await dedicatedWorker({ CORS_ORIGINS: "https://app.example.com, https://admin.example.com/" });
    });
    afterAll(() => worker?.stop());

    it("allows the listed origins only", async () => {
      for (const origin of ["https://app.example.com", "https://admin.example.com"]) {
        const res = await preflight(worker.url, "/api/chat", origin);
        expect(res.headers.get("access-control-allow-origin")).toBe(origin);
      }
      const other = await preflight(worker.url, "/api/chat", "https://evil.example.com");
      expect(other.headers.get("access-control-allow-origin")).toBeNull();
    });
  });
});
