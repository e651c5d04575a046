// A page on another origin that CORS_ORIGINS lists calls the API from real Chromium: the preflights
// pass, and a useChat-style POST /api/chat streams back with its headers readable (what a separate
// frontend app does).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pageStack, randomId, type PageStack } from "./stack";

let stack: PageStack;
let app: Server;
let appUrl: string;

beforeAll(async () => {
  // Another origin (another port): a blank page that will call the Worker with fetch.
  app = createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>another app</title>"));
  await new Promise<void>((r) => app.listen(0, "127.0.0.1", r));
  appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}/`;
  // A deployment allows no other origin unless CORS_ORIGINS lists it (tests/e2e/cors.test.ts).
  stack = await pageStack({ gapMs: 5, vars: { CORS_ORIGINS: new URL(appUrl).origin } });
}, 120_000);
afterAll(async () => {
  await new Promise((r) => app?.close(r));
  await stack?.stop();
});

describe("a frontend on another origin", () => {
  it("signs in, creates a session and streams a reply from /api/chat, reading the exposed headers", async () => {
    const context = await stack.context();
    const page = await stack.page(context);
    await page.goto(appUrl);
    const script = `(async () => {
      const api = ${JSON.stringify(stack.url)};
      const json = { "content-type": "application/json" };
      const login = await fetch(api + "/api/dev/token", { method: "POST", headers: json, body: JSON.stringify({ userId: ${JSON.stringify(randomId("cors"))} }) }).then((r) => r.json());
      const auth = { authorization: "Bearer " + login.token };
      const session = await fetch(api + "/api/sessions", { method: "POST", headers: { ...json, ...auth }, body: JSON.stringify({ agentType: "primary" }) }).then((r) => r.json());
      const input = encodeURIComponent(JSON.stringify({ sessionId: session.id }));
      const viaTrpc = await fetch(api + "/trpc/sessions.get?input=" + input, { headers: auth }).then((r) => r.json());
      const chat = await fetch(api + "/api/chat", {
        method: "POST",
        headers: { ...json, ...auth },
        body: JSON.stringify({ id: session.id, message: { id: "m1", role: "user", parts: [{ type: "text", text: "What is my balance?" }] } }),
      });
      return {
        origin: location.origin,
        sessionId: session.id,
        trpcSession: viaTrpc.result.data.session.id,
        chatStatus: chat.status,
        streamHeader: chat.headers.get("x-vercel-ai-ui-message-stream"),
        body: await chat.text(),
      };
    })()`;
    const result = await page.evaluate<{ origin: string; sessionId: string; trpcSession: string; chatStatus: number; streamHeader: string | null; body: string }>(script);
    expect(result.origin).not.toBe(new URL(stack.url).origin);
    expect(result.trpcSession).toBe(result.sessionId);
    expect(result.chatStatus).toBe(200);
    expect(result.streamHeader).toBe("v1");
    expect(result.body).toContain('"type":"text-delta"');
    expect(result.body.trim().endsWith("data: [DONE]")).toBe(true);
    await context.close();
  });
});
