// Security headers: every answer of the Worker (API, /health, /openapi.json, /docs) has hono's
// secure-headers set and a CSP that allows nothing (/docs keeps its own); the chat page and the other
// static assets get theirs from web/public/_headers, with a strict CSP and no inline code to need more.
import { describe, expect, it } from "vitest";
import { baseUrl, token } from "../helpers";

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${baseUrl()}${path}`, { headers });

function expectCommonHeaders(res: Response, what: string) {
  expect(res.headers.get("x-content-type-options"), what).toBe("nosniff");
  expect(res.headers.get("x-frame-options"), what).toBe("DENY");
  expect(res.headers.get("referrer-policy"), what).toBe("no-referrer");
  expect(res.headers.get("content-security-policy"), what).toMatch(/frame-ancestors 'none'/);
}

describe("security headers", () => {
  it("on the API's answers, errors included: nothing may render or frame them", async () => {
    const t = await token("headers-user");
    const answers: [string, Response][] = [
      ["/health", await get("/health")],
      ["/openapi.json", await get("/openapi.json")],
      ["REST 401", await get("/api/users/someone/sessions")],
      ["REST 200", await get("/api/users/headers-user/sessions", { authorization: `Bearer ${t}` })],
      ["tRPC 401", await get("/trpc/sessions.list?input=%7B%7D")],
      ["404", await get("/api/no/such/route")],
    ];
    for (const [what, res] of answers) {
      expectCommonHeaders(res, what);
      expect(res.headers.get("content-security-policy"), what).toMatch(/^default-src 'none'/);
      expect(res.headers.get("strict-transport-security"), what).toMatch(/max-age=\d+/);
      expect(res.headers.get("x-powered-by"), what).toBeNull();
      await res.arrayBuffer();
    }
  });

  it("on /docs: its own CSP (scripts from this origin and its nonce) and the rest", async () => {
    const res = await get("/docs");
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy")!;
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(csp).toMatch(/script-src 'self' 'nonce-/);
    expect(await res.text()).toContain(`nonce="${nonce}"`);
    expectCommonHeaders(res, "/docs");
  });

  it("on the chat page and its files: a strict CSP, and the page has no inline script or style", async () => {
    const page = await get("/");
    expect(page.status).toBe(200);
    expectCommonHeaders(page, "/");
    const csp = page.headers.get("content-security-policy")!;
    const directive = (name: string) => csp.split(";").map((d) => d.trim()).find((d) => d.startsWith(`${name} `));
    expect(directive("default-src")).toBe("default-src 'self'");
    expect(directive("script-src")).toBe("script-src 'self'");
    expect(directive("style-src")).toBe("style-src 'self'");
    expect(directive("connect-src")).toBe("connect-src 'self'");
    expect(directive("object-src")).toBe("object-src 'none'");
    expect(directive("base-uri")).toBe("base-uri 'none'");
    const html = await page.text();
    // What that CSP would block: scripts without src, <style> elements, style or on* attributes.
    expect(html.match(/<script(?![^>]*\ssrc=)[^>]*>/g) ?? []).toEqual([]);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    // The page's own files, by what it links.
    for (const path of [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!)) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
      await res.arrayBuffer();
    }
    // The rules themselves are not served.
    expect((await get("/_headers")).status).toBe(404);
  });
});
