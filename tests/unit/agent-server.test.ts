// Self-test of the fake agent server (tests/agents/agent-server.ts) driven with plain fetch from Node.
import { afterEach, describe, expect, it } from "vitest";
import { Webhook } from "standardwebhooks";
import {
  type AgentServer,
  accepted,
  callback,
  deferred,
  drop,
  hang,
  ndjsonStream,
  openaiStream,
  reply,
  startAgentServer,
  status,
  textStream,
  uiStream,
} from "../agents/agent-server";

const servers: AgentServer[] = [];
const start = async (opts?: { secrets?: Record<string, string> }) => {
  const server = await startAgentServer(opts);
  servers.push(server);
  return server;
};
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const post = (url: string, body: unknown, init: RequestInit = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), ...init });

/** Reads a response body chunk by chunk, as the network delivered it. */
async function chunks(res: Response): Promise<string[]> {
  const out: string[] = [];
  const decoder = new TextDecoder();
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out.push(decoder.decode(value, { stream: true }));
  }
}

async function eventually(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("agent server", () => {
  it("answers unknown paths with { output: 'ok' } and configured paths with their JSON reply, recording the calls", async () => {
    const agent = await start();
    agent.on("/banking", reply({ output: "hi", intent: "greet" }, { headers: { "x-extra": "1" } }));
    const res = await post(`${agent.url}/banking?x=1`, { message: "hello" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("x-extra")).toBe("1");
    expect(await res.json()).toEqual({ output: "hi", intent: "greet" });
    expect(await (await post(`${agent.url}/other`, {})).json()).toEqual({ output: "ok" });

    expect(agent.calls.map((c) => c.path)).toEqual(["/banking", "/other"]);
    const [call] = agent.callsTo("/banking");
    expect(call?.body).toEqual({ message: "hello" });
    expect(call?.raw).toBe('{"message":"hello"}');
    expect(call?.headers["content-type"]).toBe("application/json");
    expect(call?.verified).toBeNull();
    expect(call?.aborted).toBe(false);
    expect(agent.errors).toEqual([]);
  });

  it("consumes a list of behaviours one per call, repeating the last, and supports status()", async () => {
    const agent = await start();
    agent.on("/a", [status(500, { body: "boom" }), reply({ output: "second" }), status(204)]);
    const r1 = await post(`${agent.url}/a`, {});
    expect([r1.status, await r1.text()]).toEqual([500, "boom"]);
    expect(await (await post(`${agent.url}/a`, {})).json()).toEqual({ output: "second" });
    expect((await post(`${agent.url}/a`, {})).status).toBe(204);
    expect((await post(`${agent.url}/a`, {})).status).toBe(204);
  });

  it("streams a UI message stream in several chunks, with metadata before finish", async () => {
    const agent = await start();
    agent.on("/ui", uiStream(["Hel", "lo", " there"], { gapMs: 20, metadata: { intent: "x" } }));
    const res = await post(`${agent.url}/ui`, {});
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(res.headers.get("x-vercel-ai-ui-message-stream")).toBe("v1");
    const got = await chunks(res);
    expect(got.length).toBeGreaterThan(2);
    const events = got
      .join("")
      .split("\n\n")
      .filter(Boolean)
      .map((e) => e.replace(/^data: /, ""));
    expect(events).toEqual([
      '{"type":"start"}',
      '{"type":"text-start","id":"t"}',
      '{"type":"text-delta","id":"t","delta":"Hel"}',
      '{"type":"text-delta","id":"t","delta":"lo"}',
      '{"type":"text-delta","id":"t","delta":" there"}',
      '{"type":"text-end","id":"t"}',
      '{"type":"message-metadata","messageMetadata":{"intent":"x"}}',
      '{"type":"finish"}',
      "[DONE]",
    ]);
  });

  it("holds a UI stream after k deltas until released", async () => {
    const agent = await start();
    const gate = deferred();
    agent.on("/ui", uiStream(["a", "b", "c"], { holdAfter: 1, until: gate.promise }));
    const res = await post(`${agent.url}/ui`, {});
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes('"delta":"a"')) text += decoder.decode((await reader.read()).value);
    const early = Promise.race([reader.read().then(() => "more"), new Promise((r) => setTimeout(() => r("held"), 100))]);
    expect(await early).toBe("held");
    gate.resolve();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    expect(text).toContain('"delta":"c"');
    expect(text).toContain("data: [DONE]");
  });

  it("streams n8n ndjson, OpenAI chunks and plain text", async () => {
    const agent = await start();
    agent.on("/n8n", ndjsonStream(["a", "b"]));
    agent.on("/openai", openaiStream(["x", "y"], { model: "gpt" }));
    agent.on("/text", textStream(["p", "q", "r"], { gapMs: 20 }));

    const n = await post(`${agent.url}/n8n`, {});
    expect(n.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = (await n.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; content?: string });
    expect(lines.map((l) => [l.type, l.content])).toEqual([
      ["begin", undefined],
      ["item", "a"],
      ["item", "b"],
      ["end", undefined],
    ]);

    const o = await (await post(`${agent.url}/openai`, {})).text();
    const data = o.split("\n\n").filter(Boolean).map((e) => e.replace(/^data: /, ""));
    expect(data.at(-1)).toBe("[DONE]");
    const parsed = data.slice(0, -1).map((d) => JSON.parse(d) as { object: string; model: string; choices: { delta: { content?: string } }[] });
    expect(parsed.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe("xy");
    expect(parsed.every((c) => c.object === "chat.completion.chunk" && c.model === "gpt")).toBe(true);

    const t = await post(`${agent.url}/text`, {});
    expect(t.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    const got = await chunks(t);
    expect(got.join("")).toBe("pqr");
    expect(got.length).toBeGreaterThan(1);
  });

  it("waitForCalls resolves once n calls arrived and rejects clearly on timeout", async () => {
    const agent = await start();
    const waiting = agent.waitForCalls("/w", 2);
    await post(`${agent.url}/w`, { n: 1 });
    await post(`${agent.url}/x`, {});
    await post(`${agent.url}/w`, { n: 2 });
    const got = await waiting;
    expect(got.map((c) => c.body)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(agent.callsTo("/w")).toHaveLength(2);
    await expect(agent.waitForCalls("/w", 3, 50)).rejects.toThrow(/3 call\(s\) to \/w, got 2 .*\/w, \/x, \/w/);
  });

  it("verifies Standard Webhooks signatures with whsec_ and raw secrets", async () => {
    const whsec = `whsec_${Buffer.from("0123456789abcdef0123456789abcdef").toString("base64")}`;
    const plain = "plain-sécret";
    const agent = await start({ secrets: { "/b64": whsec, "/raw": plain } });
    const send = (path: string, wh: Webhook, payload = '{"m":1}', sentPayload = payload) => {
      const id = "msg_1";
      const now = new Date();
      return fetch(`${agent.url}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "webhook-id": id,
          "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
          "webhook-signature": wh.sign(id, now, payload),
        },
        body: sentPayload,
      });
    };
    await send("/b64", new Webhook(whsec));
    await send("/b64", new Webhook(whsec), '{"m":1}', '{"m":2}');
    await send("/raw", new Webhook(new TextEncoder().encode(plain), { format: "raw" }));
    await send("/raw", new Webhook(new TextEncoder().encode("other"), { format: "raw" }));
    await post(`${agent.url}/raw`, {});
    expect(agent.calls.map((c) => [c.path, c.verified])).toEqual([
      ["/b64", true],
      ["/b64", false],
      ["/raw", true],
      ["/raw", false],
      ["/raw", false],
    ]);
  });

  it("callback() signs what the server verifies, and accepted() calls back after the 202", async () => {
    const hook = await start({ secrets: { "/cb": "cb-secret" } });
    const agent = await start();
    agent.on("/async", accepted(async (call) => {
      await callback(call.body.callbackUrl, "cb-secret", { output: "later" });
    }));
    const res = await post(`${agent.url}/async`, { callbackUrl: `${hook.url}/cb` });
    expect(res.status).toBe(202);
    const [cb] = await hook.waitForCalls("/cb", 1);
    expect(cb?.verified).toBe(true);
    expect(cb?.body).toEqual({ output: "later" });
    expect(cb?.headers["webhook-id"]).toBeTruthy();

    expect(await callback(`${hook.url}/cb`, "cb-secret", {}, { signature: "v1,AAAA" })).toEqual({ status: 200, body: { output: "ok" } });
    await callback(`${hook.url}/cb`, "cb-secret", {}, { timestamp: new Date(Date.now() - 3600_000) });
    expect(hook.callsTo("/cb").map((c) => c.verified)).toEqual([true, false, false]);
    expect(agent.errors).toEqual([]);
  });

  it("hang() never answers; an abort by the caller sets aborted and aborts the behaviour's signal", async () => {
    const agent = await start();
    let signalled = false;
    agent.on("/hang", [
      async (call, res, signal) => {
        await hang()(call, res, signal);
        signalled = signal.aborted;
      },
    ]);
    const controller = new AbortController();
    const pending = post(`${agent.url}/hang`, {}, { signal: controller.signal });
    const [call] = await agent.waitForCalls("/hang", 1);
    expect(call?.aborted).toBe(false);
    controller.abort();
    await expect(pending).rejects.toThrow();
    await eventually(() => call?.aborted === true && signalled);
  });

  it("close() ends a hanging request and drop() is a network error", async () => {
    const agent = await startAgentServer();
    agent.on("/hang", hang());
    agent.on("/drop", drop());
    await expect(post(`${agent.url}/drop`, {})).rejects.toThrow();
    expect(agent.callsTo("/drop")[0]?.aborted).toBe(false);
    const pending = post(`${agent.url}/hang`, {});
    await agent.waitForCalls("/hang", 1);
    const outcome = pending.then(
      () => "answered",
      () => "failed",
    );
    await agent.close();
    expect(await outcome).toBe("failed");
    await agent.close();
  });
});
