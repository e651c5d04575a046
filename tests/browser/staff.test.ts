// The chat page in Chromium, customer and support staff side by side: handoff to a person, the waiting list, older history on scroll-up, typing both ways, a human reply, hand back.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { bubbles, pageStack, randomId, say, signIn, startConversation, type PageStack } from "./stack";

let stack: PageStack;
let customer: Page;
let staff: Page;
const customerId = randomId("browser-carol");
const staffId = randomId("browser-sam");
const EXTRA = 60;

beforeAll(async () => {
  stack = await pageStack();
  [customer, staff] = await Promise.all([stack.context().then(stack.page), stack.context().then(stack.page)]);
});
afterAll(() => stack?.stop());

/** REST as the customer (a token from the same development sign-in the page uses). */
let customerToken: string | undefined;
async function asCustomer(method: string, path: string, body?: unknown) {
  customerToken ??= ((await (await fetch(`${stack.url}/api/dev/token`, { method: "POST", body: JSON.stringify({ userId: customerId }) })).json()) as { token: string }).token;
  const token = customerToken;
  const res = await fetch(`${stack.url}/api${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  expect(res.status).toBe(200);
  return res.json() as Promise<unknown>;
}

describe.sequential("the chat page, customer and support staff", () => {
  it("asking for a person hands the conversation over, and it waits for one", async () => {
    await signIn(customer, stack.url, customerId);
    await startConversation(customer, "primary");
    await say(customer, "I want to talk to a human please");
    await expect.poll(() => bubbles(customer, "agent").allTextContents(), { timeout: 15_000 }).toEqual([expect.stringMatching(/handing you over/)]);
    await customer.getByText("waiting for a person").waitFor();
    // A long conversation: more than the page the staff view opens with.
    const { sessions } = (await asCustomer("GET", `/users/${customerId}/sessions?type=unresolved`)) as { sessions: { id: string }[] };
    for (let i = 1; i <= EXTRA; i++) await asCustomer("POST", `/sessions/${sessions[0]!.id}/messages`, { content: `still waiting ${i}`, clientId: `wait-${i}` });
    await expect.poll(() => bubbles(customer, "customer").count()).toBe(1 + EXTRA);
  });

  it("staff see it in the waiting list, open it, and page back to its start by scrolling up", async () => {
    await signIn(staff, stack.url, staffId, { admin: true });
    const waiting = staff.getByRole("region", { name: "Waiting for a person" });
    await waiting.getByRole("button", { name: `Open the conversation of ${customerId}` }).click({ timeout: 15_000 });
    await staff.getByText(`Customer ${customerId}`).waitFor();
    await expect.poll(() => staff.locator("ol.messages li.bubble").count()).toBe(50);
    expect(await staff.getByText("I want to talk to a human please").count()).toBe(0);
    await staff.locator("ol.messages").evaluate((el) => el.scrollTo({ top: 0 }));
    await expect.poll(() => staff.locator("ol.messages li.bubble").count()).toBe(2 + EXTRA);
    await staff.getByText("Start of the conversation").waitFor();
    expect(await staff.getByText("I want to talk to a human please").isVisible()).toBe(true);
  });

  it("each side sees the other typing, and the customer gets the person's reply", async () => {
    await customer.getByLabel("Message", { exact: true }).fill("are you there?");
    await staff.getByText("The customer is typing…").waitFor();
    await customer.getByLabel("Message", { exact: true }).press("Enter");
    await staff.getByText("are you there?").waitFor();
    await expect.poll(() => staff.getByText("The customer is typing…").count()).toBe(0);

    const reply = staff.getByLabel("Reply as support");
    await reply.fill("Hi, this is Sam from support. How can I help?");
    await customer.getByText("Support is typing…").waitFor();
    await reply.press("Enter");
    await expect.poll(() => bubbles(customer, "staff").allTextContents()).toEqual([expect.stringContaining("Hi, this is Sam from support.")]);
    expect(await bubbles(customer, "staff").first().locator(".who").textContent()).toBe("Support");
    await customer.getByText(`with ${staffId}`).waitFor();
  });

  it("staff hand the conversation back, and the agent answers again", async () => {
    await staff.getByRole("button", { name: "Hand back to primary" }).click();
    await staff.getByText("Handed back to primary.").waitFor();
    await expect.poll(() => customer.locator(".chat-head .pill.human").count()).toBe(0);
    await say(customer, "What is my balance?");
    await expect.poll(() => bubbles(customer, "agent").last().textContent(), { timeout: 15_000 }).toMatch(/balance is €1,234.56/);
    // Staff watching see the same reply.
    await expect.poll(() => bubbles(staff, "agent").last().textContent(), { timeout: 15_000 }).toMatch(/balance is €1,234.56/);
  });
});
