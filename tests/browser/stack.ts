// Browser tests' stack: the page built from web/, a Worker of its own with the demo agents and DEV_LOGIN, and Debian's Chromium.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { expect } from "vitest";
import { dedicatedWorker } from "../helpers";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const SCREENSHOTS = join(ROOT, "test-results", "screenshots");

/** The AGENTS value `npm start` uses, read from wrangler.toml. */
function demoRegistry(): string {
  const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  const match = /^AGENTS = """([\s\S]*?)"""/m.exec(toml);
  if (!match) throw new Error("wrangler.toml has no AGENTS block");
  return JSON.stringify(JSON.parse(match[1]!));
}

/** The newest source file under `dir` (build output, which tests themselves rewrite, does not count). */
function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "dist" || entry.name === "node_modules") continue;
    const path = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return t;
}

/**
 * Builds the client and the page when dist/web is older than their sources (`npm test` builds
 * everything first; this keeps a direct `vitest run` after an edit honest). Without emptying
 * dist/web: other builds (the docs UI script) share it.
 */
function buildPageIfStale() {
  const index = join(ROOT, "dist", "web", "index.html");
  const sources = Math.max(newest(join(ROOT, "web")), newest(join(ROOT, "client")));
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  const page = `import("vite").then((v) => v.build({ configFile: "web/vite.config.ts", logLevel: "warn", build: { emptyOutDir: false } }))`;
  for (const args of [["scripts/build-client.mjs"], ["--input-type=module", "-e", page]]) {
    const run = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8" });
    if (run.status !== 0) throw new Error(`building the page failed (${args[0]}):\n${run.stderr}`);
  }
}

const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

export interface PageStack {
  url: string;
  browser: Browser;
  /** A fresh browser context (its own storage: a different "device"). */
  context(opts?: { viewport?: { width: number; height: number } }): Promise<BrowserContext>;
  /** A page that fails the test (at `stop`) on any uncaught error or anything the CSP blocked. */
  page(context: BrowserContext): Promise<Page>;
  stop(): Promise<void>;
}

/** `gapMs`: milliseconds between the words of the demo banking assistant's streamed reply; `vars`: more of the Worker's vars. */
export async function pageStack({ gapMs = 120, vars = {} }: { gapMs?: number; vars?: Record<string, string> } = {}): Promise<PageStack> {
  buildPageIfStale();
  mkdirSync(SCREENSHOTS, { recursive: true });
  const [worker, browser] = await Promise.all([
    dedicatedWorker({ AGENTS: demoRegistry(), DEV_LOGIN: "1", DEMO_STREAM_GAP_MS: String(gapMs), ...vars }),
    chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS }),
  ]);
  const errors: string[] = [];
  return {
    url: worker.url,
    browser,
    context: (opts = {}) => browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 800 } }),
    async page(context) {
      const page = await context.newPage();
      page.on("pageerror", (err) => errors.push(err.message));
      // The page runs under a strict CSP (web/public/_headers): anything it blocks is a broken page.
      page.on("console", (msg) => {
        if (/Content Security Policy/i.test(msg.text())) errors.push(msg.text());
      });
      page.on("dialog", (d) => void d.accept());
      return page;
    },
    async stop() {
      await browser.close();
      await worker.stop();
      expect(errors, "uncaught errors in the page").toEqual([]);
    },
  };
}

/** Opens the page and signs in through the development sign-in form. */
export async function signIn(page: Page, url: string, userId: string, opts: { admin?: boolean } = {}) {
  await page.goto(url);
  await page.getByLabel("User id").fill(userId);
  if (opts.admin) await page.getByLabel("Sign in as support staff (admin)").check();
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText(`Signed in as ${userId}`).waitFor();
}

/** Starts a conversation with `agentType` from the side panel; resolves once its message box is ready. */
export async function startConversation(page: Page, agentType = "primary") {
  await page.getByLabel("Agent", { exact: true }).selectOption(agentType);
  await page.getByRole("button", { name: "Start", exact: true }).click();
  await page.getByRole("heading", { name: `Conversation with ${agentType}` }).waitFor();
  await expect.poll(() => focusedId(page)).toBe("composer");
}

/** The id of the element that has the keyboard focus (a string expression: these files are typed without the DOM library). */
export const focusedId = (page: Page) => page.evaluate<string | undefined>("document.activeElement?.id");

/** Types into the message box and sends with Enter. */
export async function say(page: Page, text: string) {
  const box = page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await box.press("Enter");
}

/** The message bubbles (stored messages) of the open conversation. */
export const bubbles = (page: Page, kind: "customer" | "agent" | "staff") => page.locator(`ol.messages li.bubble.${kind}:not(.writing):not(.pending)`);
export const writing = (page: Page) => page.locator("ol.messages li.bubble.writing");

const CONTRAST_SCRIPT = readFileSync(join(ROOT, "tests", "browser", "contrast.js"), "utf8");
/** Visible texts whose contrast with their background is below WCAG AA (see contrast.js). */
export const lowContrast = (page: Page) => page.evaluate<{ text: string; ratio: number }[]>(CONTRAST_SCRIPT);

/** Whether the page scrolls sideways (it must not, down to a phone's width). */
export const scrollsSideways = (page: Page) => page.evaluate<boolean>("document.documentElement.scrollWidth > window.innerWidth");

/** The focused element's outline, as drawn. */
export const focusOutline = (page: Page) =>
  page.evaluate<{ style: string; width: number }>("(() => { const s = getComputedStyle(document.activeElement); return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) }; })()");

export const randomId = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
