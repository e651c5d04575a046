// The chat page under its Content-Security-Policy (web/public/_headers) in real Chromium: the page
// works (every browser test fails on anything the CSP blocks), while a script injected inline does not run.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bubbles, pageStack, randomId, say, signIn, startConversation, type PageStack } from "./stack";

let stack: PageStack;
beforeAll(async () => {
  stack = await pageStack({ gapMs: 5 });
});
afterAll(() => stack?.stop());

describe("the chat page's CSP", () => {
  it("lets the page sign in, open its socket and chat", async () => {
    const page = await stack.page(await stack.context());
    const response = await page.goto(stack.url);
    expect(response?.headers()["content-security-policy"]).toContain("script-src 'self'");
    await signIn(page, stack.url, randomId("csp"));
    await startConversation(page, "primary");
    await say(page, "What is my balance?");
    // The reply arrives over the session's socket (connect-src 'self' covers ws: on the same host).
    await expect.poll(() => bubbles(page, "agent").count(), { timeout: 15_000 }).toBe(1);
    await page.context().close();
  });

  it("keeps a script injected into the page from running, and says so", async () => {
    // Not stack.page: this page is meant to trip the CSP.
    const context = await stack.context();
    const page = await context.newPage();
    await page.goto(stack.url);
    const result = await page.evaluate<{ ran: boolean; blocked: string | null }>(`new Promise((resolve) => {
      let blocked = null;
      document.addEventListener("securitypolicyviolation", (e) => { blocked = e.effectiveDirective; });
      const script = document.createElement("script");
      script.textContent = "window.__injected = true";
      document.body.append(script);
      const style = document.createElement("style");
      style.textContent = "body { background: red }";
      document.head.append(style);
      setTimeout(() => resolve({ ran: window.__injected === true, blocked }), 300);
    })`);
    expect(result).toEqual({ ran: false, blocked: expect.stringMatching(/^(script|style)-src/) });
    expect(await page.evaluate<string>("getComputedStyle(document.body).backgroundColor")).not.toBe("rgb(255, 0, 0)");
    await context.close();
  });
});
