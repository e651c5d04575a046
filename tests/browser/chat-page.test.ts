// The chat page in Chromium, as a customer: start, chat with the streamed demo reply, a second device live, reload and resume, stop, resolve, end.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { bubbles, focusedId, pageStack, randomId, say, SCREENSHOTS, signIn, startConversation, writing, type PageStack } from "./stack";

let stack: PageStack;
let page: Page;
const customer = randomId("browser-alice");

beforeAll(async () => {
  stack = await pageStack();
  page = await stack.page(await stack.context());
});
afterAll(() => stack?.stop());

describe.sequential("the chat page, as a customer", () => {
  it("starts a conversation, sends a message, and shows the demo reply as it streams, then stored", async () => {
    await signIn(page, stack.url, customer);
    await expect.poll(() => page.getByText("None yet.").count()).toBe(1);
    await startConversation(page, "primary");
    await say(page, "Hi! What is my balance?");
    await expect.poll(() => bubbles(page, "customer").allTextContents()).toEqual([expect.stringContaining("Hi! What is my balance?")]);
    // While the agent writes, a bubble grows word by word…
    const partial = await writing(page).locator("p").textContent({ timeout: 15_000 });
    expect(partial).toBeTruthy();
    const final = "Your current account balance is €1,234.56, and €1,180.00 of it is available to spend.";
    expect(final.startsWith(partial!.trim())).toBe(true);
    expect(partial!.trim().length).toBeLessThan(final.length);
    // …and the stored reply replaces it.
    await expect.poll(() => bubbles(page, "agent").allTextContents(), { timeout: 15_000 }).toEqual([expect.stringContaining(final)]);
    expect(await writing(page).count()).toBe(0);
    await page.screenshot({ path: join(SCREENSHOTS, "chat-desktop.png") });
  });

  it("a second browser on the same conversation sees the messages and the reply live", async () => {
    const other = await stack.page(await stack.context());
    await signIn(other, stack.url, customer);
    await other.getByRole("heading", { name: "Resume your conversation?" }).waitFor();
    await other.getByRole("button", { name: "Resume", exact: true }).click();
    await expect.poll(() => bubbles(other, "agent").count()).toBe(1);

    await say(page, "I lost my card");
    await expect.poll(() => bubbles(other, "customer").allTextContents()).toEqual([expect.stringContaining("balance"), expect.stringContaining("I lost my card")]);
    // The reply streams on the other device too, then lands there as a stored message.
    await writing(other).waitFor({ timeout: 15_000 });
    await expect.poll(() => bubbles(other, "agent").count(), { timeout: 15_000 }).toBe(2);
    expect(await bubbles(other, "agent").last().textContent()).toMatch(/blocked it/);
    await other.context().close();
  });

  it("after a reload, offers to resume the conversation, and its history is there", async () => {
    await page.reload();
    const prompt = page.getByRole("region", { name: "Resume your conversation?" });
    await prompt.waitFor();
    expect(await prompt.textContent()).toMatch(/blocked it|I lost my card/);
    await prompt.getByRole("button", { name: "Resume", exact: true }).click();
    await expect.poll(() => bubbles(page, "customer").allTextContents()).toEqual([expect.stringContaining("What is my balance?"), expect.stringContaining("I lost my card")]);
    expect(await bubbles(page, "agent").count()).toBe(2);
  });

  it("stops a reply while it is being written: nothing more of it arrives", async () => {
    await expect.poll(() => focusedId(page)).toBe("composer");
    await say(page, "hello");
    await writing(page).waitFor({ timeout: 15_000 });
    await page.getByRole("button", { name: "Stop reply" }).click();
    await page.getByText("The reply was stopped.").waitFor();
    expect(await writing(page).count()).toBe(0);
    expect(await page.getByRole("button", { name: "Stop reply" }).count()).toBe(0);
    // The whole reply would have taken about two seconds more: it never comes.
    await page.waitForTimeout(3_000);
    expect(await bubbles(page, "agent").count()).toBe(2);
    await page.reload();
    await page.getByRole("button", { name: "Resume", exact: true }).first().click();
    await expect.poll(() => bubbles(page, "customer").count()).toBe(3);
    expect(await bubbles(page, "agent").count()).toBe(2);
  });

  it("resolves the conversation: it leaves the open list", async () => {
    await page.getByRole("button", { name: "Resolve" }).click();
    await page.getByText("Marked as resolved.").waitFor();
    expect(await page.locator(".chat-head .pill").first().textContent()).toBe("resolved");
    await expect.poll(() => page.getByRole("region", { name: "Your open conversations" }).getByText("None yet.").count()).toBe(1);
  });

  it("ends a conversation: the message box closes", async () => {
    await startConversation(page, "log_analysis");
    await say(page, "ERROR db timeout\nINFO retry ok");
    await expect.poll(() => bubbles(page, "agent").count(), { timeout: 15_000 }).toBe(1);
    await page.getByRole("button", { name: "End conversation" }).click();
    await page.getByText("The conversation has ended.").waitFor();
    expect(await page.getByLabel("Message", { exact: true }).isDisabled()).toBe(true);
    expect(await page.locator(".chat-head .pill").first().textContent()).toBe("ended");
  });
});
