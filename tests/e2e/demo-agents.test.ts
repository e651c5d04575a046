// The built-in demo agents, as `npm start` runs them: the AGENTS of wrangler.toml, served by the Worker
// itself and reached through its SELF binding; the research agent answers through the signed callback.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestSocket, dedicatedWorker, newUserId, token } from "../helpers";

type Dedicated = Awaited<ReturnType<typeof dedicatedWorker>>;

/** The AGENTS value `npm start` uses, read from wrangler.toml. */
function demoRegistry(): string {
  const toml = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");
  const match = /^AGENTS = """([\s\S]*?)"""/m.exec(toml);
  if (!match) throw new Error("wrangler.toml has no AGENTS block");
  return JSON.stringify(JSON.parse(match[1]!));
}

let worker: Dedicated;
beforeAll(async () => {
  worker = await dedicatedWorker({ AGENTS: demoRegistry() });
});
afterAll(() => worker?.stop());

async function chat(agentType: string) {
  const t = await token(newUserId());
  const res = await fetch(`${worker.url}/api/sessions`, {
    method: "POST",
    headers: { authorization: `Bearer ${t}`, "content-type": "application/json" },
    body: JSON.stringify({ agentType }),
  });
  expect(res.status).toBe(200);
  const session = (await res.json()) as { id: string };
  const socket = await TestSocket.open(session.id, { token: t }, { base: worker.url });
  await socket.next("ready");
  let n = 0;
  return {
    socket,
    /** Sends `content`; resolves with the agent's stored reply to it. */
    async ask(content: string) {
      const clientId = `demo-${++n}`;
      socket.send({ type: "send", clientId, content });
      const ack = await socket.next("ack", (f) => f.clientId === clientId);
      const reply = await socket.next("message", (f) => f.message.direction === "outgoing" && f.message.parentId === ack.id, 15_000);
      return reply.message;
    },
  };
}

describe("the demo agents npm start answers with", () => {
  it("primary: a banking assistant that streams its reply and recognises the intent", async () => {
    const c = await chat("primary");
    const reply = await c.ask("Hi! What is my balance?");
    expect(reply).toMatchObject({ userId: "agent:primary", intent: "balance", agentInfo: { kind: "agent", agentType: "primary" } });
    expect(reply.content).toMatch(/balance/i);
    const deltas = c.socket.of("delta").filter((d) => d.turnId === reply.agentInfo.turnId);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.map((d) => d.text).join("")).toBe(reply.content);
  });

  it("primary: asking for a person hands the session to a human, and the agent is not called again", async () => {
    const c = await chat("primary");
    const reply = await c.ask("I want to talk to a human please");
    expect(reply.intent).toBe("human");
    const handed = await c.socket.next("session", (f) => f.session.handler === "human");
    expect(handed.session.handlerSince).toEqual(expect.any(String));
    c.socket.send({ type: "send", clientId: "after", content: "hello?" });
    await c.socket.next("ack", (f) => f.clientId === "after");
    await new Promise((r) => setTimeout(r, 700));
    expect(c.socket.of("message").filter((f) => f.message.direction === "outgoing")).toHaveLength(1);
  });

  it("router: the NLU step then the banking step, the reply carrying both", async () => {
    const c = await chat("router");
    const reply = await c.ask("I lost my card yesterday");
    expect(reply).toMatchObject({ userId: "agent:router", intent: "lost_card", agentInfo: { steps: ["nlu", "banking"] } });
    expect(reply.content.length).toBeGreaterThan(0);
  });

  it("research: answers a moment later through the signed callback", async () => {
    const c = await chat("research");
    const reply = await c.ask("Which savings accounts have no fees?");
    expect(reply).toMatchObject({ userId: "agent:research", agentInfo: { agentType: "research" } });
    expect(reply.content).toContain("Research notes");
    await c.socket.next("turn", (f) => f.turn.turnId === reply.agentInfo.turnId && f.turn.state === "done");
    const states = c.socket.of("turn").filter((f) => f.turn.turnId === reply.agentInfo.turnId).map((f) => f.turn.state);
    expect(states).toEqual(["queued", "calling", "waiting_callback", "done"]);
  });

  it("log_analysis: a plain JSON reply", async () => {
    const c = await chat("log_analysis");
    const reply = await c.ask("2026-11-23 ERROR payment timeout\n2026-11-23 WARN retrying\n2026-11-23 INFO ok");
    expect(reply).toMatchObject({ userId: "agent:log_analysis", intent: "log_analysis" });
    expect(c.socket.of("delta").filter((d) => d.turnId === reply.agentInfo.turnId)).toHaveLength(0);
  });
});
