// Built-in demo agents (banking assistant, NLU → banking pipeline, webhook research, log analysis) so `npm start` answers with no external agent.
import { Hono, type Context } from "hono";
import { Webhook } from "standardwebhooks";
import * as z from "zod";

export interface DemoAgentOptions {
  /** The secret an agent type signs/verifies with (whsec_… base64, or a plain string used as its UTF-8 bytes); undefined = unsigned. */
  secretFor(agentName: string, env: Env): string | undefined;
  /** How the research agent reaches its callback URL (the Worker passes env.SELF.fetch bound; tests pass globalThis.fetch). */
  callbackFetch(env: Env): (url: string, init: RequestInit) => Promise<Response>;
  /** Delay before the research agent calls back (default 400 ms). */
  researchDelayMs?: number;
}

export type Intent = "balance" | "lost_card" | "transfer" | "human" | "greeting" | "unknown";
export type Entity = { type: string; value: string };
const INTENTS: readonly string[] = ["balance", "lost_card", "transfer", "human", "greeting", "unknown"] satisfies Intent[];
const isIntent = (value: string): value is Intent => INTENTS.includes(value);

// Runs of 12–19 digits are treated as card numbers and blanked first, so no rule can pick digits out of one.
const CARD_NUMBER = /(?:\d[ -]?){11,18}\d/g;
const AMOUNT = /[€$£]\s?\d{1,7}(?:[.,]\d{1,2})?(?!\d)|(?<![\d.,])\d{1,7}(?:[.,]\d{1,2})?\s?(?:eur|euros?|usd|dollars?|gbp|pounds?)\b/i;

/** Pure: the banking assistant's intent recognition, first matching rule wins (an explicit ask for a person beats everything). */
export function recognise(text: string): { intent: Intent; confidence: number; entities: Entity[] } {
  const t = text.replace(CARD_NUMBER, " ").toLowerCase();
  if (/\b(human|person|agent|talk to someone)\b/.test(t)) return { intent: "human", confidence: 0.9, entities: [] };
  if (/\b(lost|stolen)\b/.test(t) && /\bcard\b/.test(t)) return { intent: "lost_card", confidence: 0.9, entities: [] };
  if (/\bblock (my|the) card\b/.test(t)) return { intent: "lost_card", confidence: 0.9, entities: [] };
  const amount = AMOUNT.exec(text.replace(CARD_NUMBER, " "));
  const entities = amount ? [{ type: "amount", value: amount[0].trim() }] : [];
  if (/\b(transfer|send money)\b/.test(t)) return { intent: "transfer", confidence: amount ? 0.95 : 0.8, entities };
  if (/\b(balance|how much money)\b/.test(t)) return { intent: "balance", confidence: 0.9, entities: [] };
  if (amount) return { intent: "transfer", confidence: 0.6, entities };
  if (/\b(hi|hello|hey)\b/.test(t)) return { intent: "greeting", confidence: 0.8, entities: [] };
  return { intent: "unknown", confidence: 0.2, entities: [] };
}

/** Pure: the banking reply for an intent; never quotes the customer's text (it may hold a card number). */
export function bankingReply(intent: Intent, entities: Entity[], text: string): { output: string; handoff?: { to: "human"; reason: string } } {
  switch (intent) {
    case "balance":
      return { output: "Your current account balance is €1,234.56, and €1,180.00 of it is available to spend." };
    case "lost_card": {
      const how = /\bstolen\b/i.test(text) ? "stolen" : "lost";
      return { output: `I'm sorry your card was ${how}. I've blocked it so nobody can use it, and a replacement will arrive in 3–5 working days.` };
    }
    case "transfer": {
      const amount = entities.find((e) => e.type === "amount")?.value;
      return amount
        ? { output: `I can send ${amount} for you. Who should receive it? Pick a saved payee or give me their IBAN.` }
        : { output: "Happy to help with a transfer. How much would you like to send, and to whom?" };
    }
    case "human":
      return { output: "Of course, I'm handing you over to one of our team now. They'll see this conversation.", handoff: { to: "human", reason: "customer asked for a person" } };
    case "greeting":
      return { output: "Hello! I'm the demo banking assistant. I can check your balance, block a lost card or start a transfer." };
    case "unknown":
      return { output: "Sorry, I didn't catch that. I can check your balance, block a lost card, start a transfer, or put you through to a person." };
  }
}

const entitySchema = z.object({ type: z.string(), value: z.string() });
// Only the fields the demo agents read; the rest of the edge-chat body is let through unchecked.
const turnSchema = z.looseObject({
  turnId: z.string().min(1),
  session: z.looseObject({ id: z.string().min(1) }),
  message: z.looseObject({ content: z.string() }),
  previous: z.array(z.looseObject({ intent: z.string().nullish(), entities: z.array(z.unknown()).nullish() })).optional(),
  callbackUrl: z.url().optional(),
});
type Turn = z.infer<typeof turnSchema>;
type DemoEnv = { Bindings: Env };

/** A Webhook for a secret: "whsec_…" is base64 (the library's default format), anything else is the string's UTF-8 bytes. */
function webhookFor(secret: string): Webhook {
  return secret.startsWith("whsec_") ? new Webhook(secret) : new Webhook(new TextEncoder().encode(secret), { format: "raw" });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Checks the signature (when the agent has a secret) and the body; a Response is the refusal to send. */
async function readTurn(c: Context<DemoEnv>, name: string, opts: DemoAgentOptions): Promise<Turn | Response> {
  const raw = await c.req.text();
  const secret = opts.secretFor(name, c.env);
  if (secret !== undefined) {
    try {
      webhookFor(secret).verify(raw, {
        "webhook-id": c.req.header("webhook-id") ?? "",
        "webhook-timestamp": c.req.header("webhook-timestamp") ?? "",
        "webhook-signature": c.req.header("webhook-signature") ?? "",
      });
    } catch {
      return c.json({ code: "UNAUTHORIZED", message: "missing or invalid webhook signature" }, 401);
    }
  }
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return c.json({ code: "BAD_REQUEST", message: "request body is not JSON" }, 400);
  }
  const parsed = turnSchema.safeParse(body);
  if (!parsed.success) {
    return c.json({ code: "BAD_REQUEST", message: `not an edge-chat turn: ${z.prettifyError(parsed.error)}`, issues: parsed.error.issues }, 400);
  }
  return parsed.data;
}

/** An AI SDK UI message stream of the reply, one word per delta; `pull` paces it, so a reader that goes away stops it. */
function uiMessageStream(output: string, metadata: Record<string, unknown>, gapMs = 15): Response {
  const words = output.split(/(?<=\s)(?=\S)/);
  const events: unknown[] = [
    { type: "start" },
    { type: "text-start", id: "t1" },
    ...words.map((delta) => ({ type: "text-delta", id: "t1", delta })),
    { type: "text-end", id: "t1" },
    { type: "message-metadata", messageMetadata: metadata },
    { type: "finish" },
  ];
  const frames = [...events.map((e) => JSON.stringify(e)), "[DONE]"];
  const encoder = new TextEncoder();
  let next = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (next > 2 && next < 2 + words.length) await sleep(gapMs);
      controller.enqueue(encoder.encode(`data: ${frames[next++]}\n\n`));
      if (next === frames.length) controller.close();
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-vercel-ai-ui-message-stream": "v1" },
  });
}

// DEMO_STREAM_GAP_MS slows the banking assistant's words down (say 150), so a reply can be watched, or stopped, as it is written.
const gapSchema = z.coerce.number().int().min(0).max(10_000).catch(15);
const streamGapMs = (env: Env) => gapSchema.parse(env.DEMO_STREAM_GAP_MS ?? 15);

/** A short canned "analysis" of log text: line count, levels seen, timeouts, where the first error is. */
function analyseLogs(text: string): { output: string; intent: string; entities: unknown[]; confidence: number } {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  const levels = ["FATAL", "ERROR", "WARN", "INFO", "DEBUG"].map((level) => {
    const re = level === "WARN" ? /\bWARN(?:ING)?\b/i : new RegExp(`\\b${level}\\b`, "i");
    return { type: "level", value: level, count: lines.filter((line) => re.test(line)).length };
  });
  const found = levels.filter((l) => l.count > 0);
  const timeouts = lines.filter((line) => /\b(timeout|timed out|time out)\b/i.test(line)).length;
  const firstError = lines.findIndex((line) => /\b(ERROR|FATAL)\b/i.test(line));
  const parts = [`${lines.length} line${lines.length === 1 ? "" : "s"}`];
  parts.push(found.length ? found.map((l) => `${l.count} ${l.value}`).join(", ") : "no log levels recognised");
  if (timeouts) parts.push(`${timeouts} mention${timeouts === 1 ? "s" : ""} a timeout`);
  const verdict = firstError >= 0 ? `The first error is on line ${firstError + 1}; start there.` : "Nothing looks like an error.";
  return { output: `Log analysis: ${parts.join("; ")}. ${verdict}`, intent: "log_analysis", entities: found, confidence: 0.7 };
}

/** Signs (when the research agent has a secret) and delivers its late reply; a failure is logged, since nobody waits on it. */
async function researchCallback(turn: Turn, callbackUrl: string, env: Env, opts: DemoAgentOptions): Promise<void> {
  await sleep(opts.researchDelayMs ?? 400);
  const question = turn.message.content.trim().replace(/\s+/g, " ").slice(0, 80) || "your question";
  const output = `Research notes on “${question}”: three internal articles and one FAQ cover this; the short answer is that it depends on your account type, and the FAQ has the details.`;
  const body = JSON.stringify({ turnId: turn.turnId, sessionId: turn.session.id, output, confidence: 0.6 });
  const headers: Record<string, string> = { "content-type": "application/json" };
  const secret = opts.secretFor("research", env);
  if (secret !== undefined) {
    const id = crypto.randomUUID();
    const now = new Date();
    headers["webhook-id"] = id;
    headers["webhook-timestamp"] = String(Math.floor(now.getTime() / 1000));
    headers["webhook-signature"] = webhookFor(secret).sign(id, now, body);
  }
  try {
    const res = await opts.callbackFetch(env)(callbackUrl, { method: "POST", headers, body });
    if (!res.ok) console.error(`demo research callback to ${callbackUrl} failed: HTTP ${res.status}`);
  } catch (err) {
    console.error(`demo research callback to ${callbackUrl} failed:`, err);
  }
}

export function demoAgents(opts: DemoAgentOptions): Hono<DemoEnv> {
  const app = new Hono<DemoEnv>();

  app.post("/demo/agents/primary", async (c) => {
    const turn = await readTurn(c, "primary", opts);
    if (turn instanceof Response) return turn;
    const { intent, confidence, entities } = recognise(turn.message.content);
    const { output, handoff } = bankingReply(intent, entities, turn.message.content);
    return uiMessageStream(output, { intent, confidence, entities, ...(handoff && { handoff }) }, streamGapMs(c.env));
  });

  app.post("/demo/agents/nlu", async (c) => {
    const turn = await readTurn(c, "nlu", opts);
    if (turn instanceof Response) return turn;
    return c.json({ output: "", ...recognise(turn.message.content) });
  });

  app.post("/demo/agents/banking", async (c) => {
    const turn = await readTurn(c, "banking", opts);
    if (turn instanceof Response) return turn;
    const step = turn.previous?.findLast((p) => typeof p.intent === "string" && p.intent !== "");
    const own = step ? null : recognise(turn.message.content);
    const intent = own?.intent ?? (step?.intent && isIntent(step.intent) ? step.intent : "unknown");
    const entities = own?.entities ?? (step?.entities ?? []).flatMap((e) => entitySchema.safeParse(e).data ?? []);
    return c.json(bankingReply(intent, entities, turn.message.content));
  });

  app.post("/demo/agents/research", async (c) => {
    const turn = await readTurn(c, "research", opts);
    if (turn instanceof Response) return turn;
    if (!turn.callbackUrl) return c.json({ code: "BAD_REQUEST", message: "the research agent needs a callbackUrl" }, 400);
    c.executionCtx.waitUntil(researchCallback(turn, turn.callbackUrl, c.env, opts));
    return c.json({ accepted: true }, 202);
  });

  app.post("/demo/agents/log_analysis", async (c) => {
    const turn = await readTurn(c, "log_analysis", opts);
    if (turn instanceof Response) return turn;
    return c.json(analyseLogs(turn.message.content));
  });

  return app;
}
