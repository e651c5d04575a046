// The chat page in Chromium for everyone: keyboard only with a visible focus, AA contrast, a phone-sized screen; saves the screenshots.
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { bubbles, focusedId, focusOutline, lowContrast, pageStack, randomId, say, SCREENSHOTS, scrollsSideways, signIn, startConversation, writing, type PageStack } from "./stack";

let stack: PageStack;
beforeAll(async () => {
  stack = await pageStack();
});
afterAll(() => stack?.stop());

/** Presses Tab until `accessibleName` has the focus (at most `max` times); fails naming what had it instead. */
async function tabTo(page: Page, accessibleName: RegExp, max = 15) {
  const seen: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const name = await page.evaluate<string>("(() => { const e = document.activeElement; return (e.getAttribute('aria-label') || e.labels?.[0]?.textContent || e.textContent || e.id || e.tagName).trim(); })()");
    if (accessibleName.test(name)) return;
    seen.push(name);
  }
  throw new Error(`Tab never reached ${accessibleName}; focus went to: ${seen.join(" → ")}`);
}

describe("the chat page is usable", () => {
  it("with the keyboard alone: sign in, start, type, Enter sends; the focus is always visible", async () => {
    const page = await stack.page(await stack.context());
    await page.goto(stack.url);
    await tabTo(page, /^User id$/);
    await page.keyboard.press("Control+A");
    await page.keyboard.type(randomId("browser-kim"));
    await tabTo(page, /^Sign in$/);
    expect(await focusOutline(page)).toMatchObject({ style: "solid", width: 3 });
    await page.keyboard.press("Enter");
    await page.getByText("Signed in as").waitFor();

    // The first Tab offers a way straight to the start form.
    await page.keyboard.press("Tab");
    expect(await page.evaluate<string>("document.activeElement.textContent")).toBe("Skip to start a conversation");
    expect((await page.locator(".skip-link").boundingBox())!.y).toBeGreaterThanOrEqual(0);
    await page.keyboard.press("Enter");
    expect(await focusedId(page)).toBe("start-agent");
    expect(await focusOutline(page)).toMatchObject({ style: "solid", width: 3 });
    await tabTo(page, /^Start$/);
    expect(await focusOutline(page)).toMatchObject({ style: "solid", width: 3 });
    await page.keyboard.press("Enter");
    // The conversation opens with the focus in the message box.
    await expect.poll(() => focusedId(page)).toBe("composer");
    expect(await focusOutline(page)).toMatchObject({ style: "solid", width: 3 });
    await page.keyboard.type("Hello from the keyboard");
    await page.keyboard.press("Enter");
    await expect.poll(() => bubbles(page, "customer").allTextContents()).toEqual([expect.stringContaining("Hello from the keyboard")]);
    await expect.poll(() => bubbles(page, "agent").count(), { timeout: 15_000 }).toBe(1);
    expect(await focusedId(page)).toBe("composer");
    // New messages are announced: the list is a polite live log.
    expect(await page.locator("ol.messages").getAttribute("role")).toBe("log");
    expect(await page.locator("ol.messages").getAttribute("aria-live")).toBe("polite");
    expect(await lowContrast(page)).toEqual([]);
    await page.context().close();
  });

  it("on a phone-sized screen (390×844): no sideways scrolling, one column, back to the list", async () => {
    const page = await stack.page(await stack.context({ viewport: { width: 390, height: 844 } }));
    await signIn(page, stack.url, randomId("browser-lee"));
    expect(await scrollsSideways(page)).toBe(false);
    await startConversation(page, "primary");
    // The side panel gives way to the conversation.
    expect(await page.getByRole("complementary", { name: "Conversations" }).isVisible()).toBe(false);
    await say(page, "Hi! What is my balance?");
    await expect.poll(() => bubbles(page, "agent").count(), { timeout: 15_000 }).toBe(1);
    await say(page, "I would like to transfer €250 to my landlord, please, as soon as possible today");
    await expect.poll(() => bubbles(page, "agent").count(), { timeout: 15_000 }).toBe(2);
    expect(await scrollsSideways(page)).toBe(false);
    const composer = (await page.getByLabel("Message", { exact: true }).boundingBox())!;
    expect(composer.x).toBeGreaterThanOrEqual(0);
    expect(composer.x + composer.width).toBeLessThanOrEqual(390);
    expect(await lowContrast(page)).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, "chat-phone.png") });
    await page.getByRole("button", { name: "Conversations" }).click();
    await page.getByRole("heading", { name: "Your open conversations" }).waitFor();
    expect(await scrollsSideways(page)).toBe(false);
    await page.context().close();
  });

  it("on a desktop, mid-reply (the README's screenshot)", async () => {
    const page = await stack.page(await stack.context());
    await signIn(page, stack.url, process.env.UPDATE_SCREENSHOTS ? "alice" : randomId("browser-alice"));
    await startConversation(page, "primary");
    await say(page, "Hi! What is my balance?");
    await expect.poll(() => bubbles(page, "agent").count(), { timeout: 15_000 }).toBe(1);
    await say(page, "I lost my card on the train");
    // Caught while the reply is being written: the growing bubble and the stop button.
    await expect.poll(async () => ((await writing(page).locator("p").textContent()) ?? "").split(" ").length, { timeout: 15_000, interval: 50 }).toBeGreaterThan(8);
    expect(await page.getByRole("button", { name: "Stop reply" }).isVisible()).toBe(true);
    expect(await lowContrast(page)).toEqual([]);
    const shot = join(SCREENSHOTS, "chat-desktop-streaming.png");
    await page.screenshot({ path: shot });
    if (process.env.UPDATE_SCREENSHOTS) {
      const docs = fileURLToPath(new URL("../../docs/images", import.meta.url));
      mkdirSync(docs, { recursive: true });
      copyFileSync(shot, join(docs, "chat-page.png"));
    }
    await page.context().close();
  });
});
