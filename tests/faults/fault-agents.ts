// The agents of the fault run: real HTTP agents in every mode (sync JSON, UI message stream, webhook
// with signed callbacks, a two-step pipeline) that fail on purpose, at seeded random, as real ones do.
import type { ServerResponse } from "node:http";
import { callback, type AgentCall, type AgentServer, type Behaviour } from "../agents/agent-server";

export const AGENT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/** Short limits, so faults cost seconds, not minutes. */
const LIMITS = { timeoutMs: 1_000, maxAttempts: 3, retryBaseMs: 200 };
export const CALLBACK_TIMEOUT_MS = 2_000;

/** The agent types sessions are spread over: one per mode. */
export const MODES = ["sync", "stream", "webhook", "router"] as const;

export function registry(url: string) {
  return {
    sync: { url: `${url}/sync`, secret: AGENT_SECRET, ...LIMITS },
    // Messages arriving while a streamed turn runs are folded into the next turn.
    stream: { url: `${url}/stream`, secret: AGENT_SECRET, ...LIMITS, concurrency: "merge" },
    webhook: { url: `${url}/webhook`, secret: AGENT_SECRET, ...LIMITS, callbackTimeoutMs: CALLBACK_TIMEOUT_MS },
    nlu: { url: `${url}/nlu`, secret: AGENT_SECRET, ...LIMITS },
    banking: { url: `${url}/sync`, secret: AGENT_SECRET, ...LIMITS },
    router: { pipeline: ["nlu", "banking"] },
  };
}

export type AgentFault = "http 500" | "hang past the timeout" | "connection dropped" | "dropped mid-stream" | "stalled mid-stream" | "callback twice" | "callback late" | "callback lost";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Installs the fault-injecting behaviours on `server`; `faults` counts what was injected. */
export function installAgents(server: AgentServer, random: () => number, faults: Map<AgentFault, number>, enabled: () => boolean) {
  const inject = (kind: AgentFault) => faults.set(kind, (faults.get(kind) ?? 0) + 1);
  const fail = (res: ServerResponse, signal: AbortSignal, r: number): Promise<boolean> | boolean => {
    if (!enabled()) return false;
    if (r < 0.06) {
      inject("http 500");
      res.writeHead(500, { "content-type": "text/plain" }).end("agent failed");
      return true;
    }
    if (r < 0.09) {
      inject("hang past the timeout");
      // Answered by nobody: the backend gives up after timeoutMs and aborts.
      return new Promise<boolean>((resolve) => (signal.aborted ? resolve(true) : signal.addEventListener("abort", () => resolve(true))));
    }
    if (r < 0.12) {
      inject("connection dropped");
      res.socket?.destroy();
      return true;
    }
    return false;
  };
  const answer = (call: AgentCall) => `answer to seq ${call.body?.message?.seq ?? "?"}`;

  const sync: Behaviour = async (call, res, signal) => {
    if (await fail(res, signal, random())) return;
    await sleep(5 + random() * 30);
    if (!signal.aborted) res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ output: answer(call) }));
  };
  server.on("/sync", sync);

  server.on("/nlu", async (call, res, signal) => {
    if (await fail(res, signal, random())) return;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ output: "", intent: "balance", confidence: 0.9 }));
  });

  server.on("/stream", async (call, res, signal) => {
    if (await fail(res, signal, random())) return;
    const r = enabled() ? random() : 1;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "x-vercel-ai-ui-message-stream": "v1" });
    const sse = (data: unknown) => res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
    sse({ type: "start" });
    sse({ type: "text-start", id: "t" });
    const words = answer(call).split(" ");
    for (let i = 0; i < words.length; i++) {
      await sleep(10);
      if (signal.aborted) return;
      if (i === 2 && r < 0.05) {
        inject("dropped mid-stream");
        res.socket?.destroy();
        return;
      }
      if (i === 2 && r < 0.08) {
        inject("stalled mid-stream");
        // Silent past timeoutMs between two chunks: the backend gives up and retries.
        await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve())));
        return;
      }
      sse({ type: "text-delta", id: "t", delta: (i ? " " : "") + words[i] });
    }
    sse({ type: "text-end", id: "t" });
    sse({ type: "finish" });
    res.end("data: [DONE]\n\n");
  });

  server.on("/webhook", async (call, res, signal) => {
    if (await fail(res, signal, random())) return;
    await new Promise<void>((resolve) => res.writeHead(202).end(() => resolve()));
    const body = { turnId: call.body.turnId, sessionId: call.body.session.id, output: answer(call) };
    const url: string = call.body.callbackUrl;
    const r = enabled() ? random() : 1;
    const send = async (id?: string) => {
      try {
        return await callback(url, AGENT_SECRET, body, id ? { id } : {});
      } catch {
        return null; // The Worker was down: this callback is lost; the turn's deadline retries it.
      }
    };
    if (r < 0.08) {
      inject("callback twice");
      await sleep(20 + random() * 100);
      const id = crypto.randomUUID();
      await send(id);
      await send(id); // the same delivery again: DUPLICATE
      await send(); // another delivery of the same answer: the turn is finished, 409
    } else if (r < 0.14) {
      inject("callback late");
      // After the deadline: the next attempt is waiting or running, and this late answer is taken.
      await sleep(CALLBACK_TIMEOUT_MS + 300);
      await send();
    } else if (r < 0.17) {
      inject("callback lost");
    } else {
      await sleep(20 + random() * 150);
      await send();
    }
  });
}
