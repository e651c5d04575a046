// /docs in real Chromium with every other origin blocked: the reference renders from what the Worker
// serves alone, with no CSP violation. (Run by the browser project; needs /usr/bin/chromium.)
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseUrl } from "../helpers";

const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await browser?.close();
});

describe("the API docs page", () => {
  it("renders the reference offline: operations, the auth box and the frames page, nothing fetched from elsewhere", async () => {
    const origin = new URL(baseUrl()).origin;
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const elsewhere: string[] = [];
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(`${origin}/`) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
      elsewhere.push(url);
      return route.abort();
    });
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));

    await page.goto(`${origin}/docs`);
    // An operation of the first group, the bearer token field, and a page written in Markdown.
    await expect.poll(() => page.getByText("Start a chat session").first().isVisible(), { timeout: 30_000 }).toBe(true);
    await expect.poll(() => page.getByText("Bearer Token").first().isVisible()).toBe(true);
    await expect.poll(() => page.getByRole("heading", { name: "Live sessions (WebSocket)" }).first().isVisible()).toBe(true);
    // The page fetched the document it describes, from us.
    expect(await page.getByText("Edge chat API").first().isVisible()).toBe(true);

    expect(elsewhere).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);
});
