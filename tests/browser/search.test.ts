// The chat page in Chromium: the search box finds a message, highlights the match, and opens its conversation at it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bubbles, pageStack, randomId, say, signIn, startConversation, type PageStack } from "./stack";

let stack: PageStack;
beforeAll(async () => {
  stack = await pageStack();
});
afterAll(() => stack?.stop());

describe("the search box", () => {
  it("finds a message by a word in it, marks the word, and opens the conversation at that message", async () => {
    const page = await stack.page(await stack.context());
    await signIn(page, stack.url, randomId("browser-sue"));
    await startConversation(page, "log_analysis");
    await say(page, "The kumquat importer logged ERROR timeout twice");
    await expect.poll(() => bubbles(page, "agent").count(), { timeout: 15_000 }).toBe(1);

    const box = page.getByRole("searchbox", { name: "Search your messages" });
    await box.fill("kumquat");
    // Search reads Postgres, which trails the session by the outbox lag: ask again until it is there.
    const results = page.locator("ul.results li");
    await expect
      .poll(async () => {
        await page.getByRole("button", { name: "Search", exact: true }).click();
        await page.getByRole("status").filter({ hasText: /result/ }).waitFor();
        return results.count();
      }, { timeout: 15_000 })
      .toBe(1);
    expect(await results.locator("mark").allTextContents()).toEqual([expect.stringMatching(/^kumquat$/i)]);
    expect(await results.textContent()).toMatch(/importer logged ERROR timeout/);

    await results.getByRole("button").click();
    const found = page.locator("ol.messages li.found");
    await found.waitFor();
    expect(await found.textContent()).toMatch(/kumquat importer/);
    expect(await found.isVisible()).toBe(true);

    await box.fill("zzyzx-nothing-like-this");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.getByText("0 results for “zzyzx-nothing-like-this”").waitFor();
    await page.context().close();
  });
});
