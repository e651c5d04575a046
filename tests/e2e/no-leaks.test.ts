// No secret or internal detail in any answer or log line: a Worker with secrets of its own is driven
// through successes and failures (bad tokens and bodies, failing and unreachable agents, forged agent
// callbacks, a database outage); no answer carries a stack, SQL or a configured value, and its log
// (wrangler's and the Worker's output) names none of the secrets or the tokens used.
import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { accepted, startAgentServer, status, type AgentServer } from "../agents/agent-server";
import { TestSocket, dedicatedWorker, newUserId, token } from "../helpers";

const tag = randomUUID().slice(0, 8);
const JWT_SECRET = `jwt-secret-${tag}-0123456789abcdef`;
const AGENT_SECRET = `agent-secret-${tag}`;
const WEBHOOK_SECRET = `webhook-secret-${tag}`;
/** Kept after the run (test-results/ is not committed), like the shared Worker's log. */
const LOG = join(process.cwd(), "test-results", "logs", "no-leaks-worker.log");

/** The test database's URL with a password in it (the one it has, or one of ours: local PostgreSQL trusts 127.0.0.1). */
function databaseUrlWithPassword(): { url: string; password: string } {
  const url = new URL(inject("databaseUrl"));
  if (!url.password) url.password = `db-password-${tag}`;
  return { url: url.toString(), password: decodeURIComponent(url.password) };
}
const database = databaseUrlWithPassword();

let agents: AgentServer;
let worker: Awaited<ReturnType<typeof dedicatedWorker>>;
/** Every answer the test got: status, headers and body text. */
const answers: { what: string; status: number; body: string }[] = [];
/** Every bearer token the test sent. */
const tokens: string[] = [];

async function call(what: string, method: string, path: string, opts: { token?: string; body?: string; headers?: Record<string, string> } = {}) {
  if (opts.token) tokens.push(opts.token);
  const res = await fetch(`${worker.url}${path}`, {
    method,
    headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...(opts.body !== undefined ? { "content-type": "application/json" } : {}), ...opts.headers },
    body: opts.body,
  });
  const body = await res.text();
  answers.push({ what, status: res.status, body: `${[...res.headers].map(([k, v]) => `${k}: ${v}`).join("\n")}\n\n${body}` });
  return { status: res.status, body };
}

beforeAll(async () => {
  mkdirSync(join(process.cwd(), "test-results", "logs"), { recursive: true });
  writeFileSync(LOG, "");
  agents = await startAgentServer();
  agents.on("/failing", status(500, { body: "agent exploded" }));
  agents.on("/webhook", accepted());
  worker = await dedicatedWorker(
    {
      JWT_SECRET,
      DATABASE_URL: database.url,
      AGENTS: JSON.stringify({
        primary: { url: `${agents.url}/failing`, secret: AGENT_SECRET },
        research: { url: `${agents.url}/webhook`, secret: WEBHOOK_SECRET, callbackTimeoutMs: 60_000 },
        // Nobody listens there: the call fails to connect.
        log_analysis: { url: "http://127.0.0.1:9/agent", secret: AGENT_SECRET },
      }),
      OUTBOX_MAX_BACKOFF_SECONDS: "1",
    },
    { logFile: LOG },
  );
});
afterAll(async () => {
  await worker?.stop();
  await agents?.close();
});

describe("no secret or internal detail", () => {
  it("in any answer, or any line of the Worker's log", async () => {
    const userId = newUserId("leak");
    const t = await token(userId, { secret: JWT_SECRET });
    const other = await token(newUserId("leak-other"), { secret: JWT_SECRET });
    const expired = await token(userId, { secret: JWT_SECRET, expiresIn: "-1m" });
    const wrongKey = await token(userId, { secret: "some-other-secret-0123456789abcdef" });
    const unsigned = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify({ sub: userId })).toString("base64url")}.`;

    // Successes, with agent turns that fail (500, and a refused connection) and one waiting for a callback.
    const sessions: Record<string, string> = {};
    for (const agentType of ["primary", "research", "log_analysis"]) {
      const created = await call(`create ${agentType}`, "POST", "/api/sessions", { token: t, body: JSON.stringify({ agentType }) });
      expect(created.status).toBe(200);
      sessions[agentType] = JSON.parse(created.body).id;
      await call(`send ${agentType}`, "POST", `/api/sessions/${sessions[agentType]}/messages`, { token: t, body: JSON.stringify({ content: "My card 4111 1111 1111 1111 was declined", clientId: "c1" }) });
    }
    // The socket, with the token in the query and in the protocol header.
    tokens.push(t);
    for (const via of ["query", "protocol"] as const) {
      const sock = await TestSocket.open(sessions.primary!, { token: t, via }, { base: worker.url });
      await sock.next("ready");
      sock.send({ type: "send", clientId: `s-${via}`, content: "over the socket" });
      sock.send("{not json");
      sock.send({ type: "send", content: 42 });
      await sock.until((fs) => fs.filter((f) => f.type === "error").length >= 2);
      for (const f of sock.frames) answers.push({ what: `frame over ${via}`, status: 0, body: JSON.stringify(f) });
      await sock.close();
    }
    // The failing agent was called (and answered 500) more than once, and the webhook agent once.
    await agents.waitForCalls("/failing", 2, 20_000);
    await agents.waitForCalls("/webhook", 1, 10_000);
    await call("history", "GET", `/api/sessions/${sessions.primary}/history`, { token: t });

    // Failures: bad tokens, bodies, ids and routes.
    for (const [what, bad] of [["expired", expired], ["wrong key", wrongKey], ["alg none", unsigned], ["garbage", "not.a.token"]] as const) {
      await call(`token ${what}`, "GET", `/api/users/${userId}/sessions`, { token: bad });
      await call(`token ${what} over trpc`, "GET", `/trpc/sessions.list?input=${encodeURIComponent(JSON.stringify({ userId }))}`, { token: bad });
    }
    await call("another user's session", "GET", `/api/sessions/${sessions.primary}`, { token: other });
    await call("broken json", "POST", "/api/sessions", { token: t, body: "{broken" });
    await call("broken json over trpc", "POST", "/trpc/sessions.create", { token: t, body: "{broken" });
    await call("wrong types", "POST", `/api/sessions/${sessions.primary}/messages`, { token: t, body: JSON.stringify({ content: { $gt: "" }, clientId: ["x"] }) });
    await call("unknown agent type", "POST", "/api/sessions", { token: t, body: JSON.stringify({ agentType: "'; drop table chat_sessions; --" }) });
    await call("bad session id", "GET", "/api/sessions/' or 1=1 --/history", { token: t });
    await call("too large", "POST", "/api/sessions", { token: t, body: JSON.stringify({ title: "x".repeat(300_000) }) });
    await call("deep metadata", "POST", "/api/sessions", { token: t, body: `{"metadata":${"{\"a\":".repeat(5000)}1${"}".repeat(5000)}}` });
    await call("unknown route", "GET", "/api/nothing/here", { token: t });
    await call("search syntax", "GET", `/api/search?q=${encodeURIComponent("a & | ! (")}`, { token: t });

    // Forged agent callbacks: no signature, a wrong one, a stale one.
    const callback = JSON.stringify({ sessionId: sessions.research, turnId: randomUUID(), output: "forged" });
    const now = Math.floor(Date.now() / 1000);
    for (const [what, headers] of [
      ["unsigned", {}],
      ["wrong signature", { "webhook-id": "msg_1", "webhook-timestamp": String(now), "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" }],
      ["stale", { "webhook-id": "msg_2", "webhook-timestamp": String(now - 3600), "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" }],
    ] as const) {
      await call(`callback ${what}`, "POST", "/api/webhooks/agents/research", { body: callback, headers });
    }

    // The database unreachable: health, a read, a create.
    worker.proxy.setBlocked(true);
    await call("health, database down", "GET", "/health");
    await call("list, database down", "GET", `/api/users/${userId}/sessions`, { token: t });
    await call("create, database down", "POST", "/api/sessions", { token: t, body: "{}" });
    // A customer's words sent while the database is down: the outbox's failed writes must not log them.
    const words = `private words ${Date.now()}`;
    await call("send, database down", "POST", `/api/sessions/${sessions.primary}/messages`, { token: t, body: JSON.stringify({ content: words, clientId: "c-down" }) });
    await new Promise((r) => setTimeout(r, 1_500));
    worker.proxy.setBlocked(false);
    await call("health", "GET", "/health");

    // Every failure above was answered as one (none reached a 5xx without saying so cleanly).
    expect(answers.filter((a) => a.status >= 400).length).toBeGreaterThan(20);
    const secrets = [JWT_SECRET, AGENT_SECRET, WEBHOOK_SECRET, database.password, database.url];
    for (const answer of answers) {
      for (const secret of secrets) expect(answer.body, answer.what).not.toContain(secret);
      expect(answer.body, answer.what).not.toMatch(/\n\s+at .*\(|\.ts:\d+|node_modules|file:\/\//);
      expect(answer.body, answer.what).not.toMatch(/\b(select|insert into|update|delete from)\b[^"]*\b(from|values|set|where)\b/i);
      expect(answer.body, answer.what).not.toMatch(/DATABASE_URL|JWT_SECRET|postgres(ql)?:\/\//i);
    }

    await worker.stop();
    const log = readFileSync(LOG, "utf8");
    // The log is there and says things (requests, failed agent calls, the outage).
    expect(log).toMatch(/POST \/api\/sessions/);
    for (const secret of [...secrets, ...new Set(tokens)]) {
      const line = log.split("\n").find((l) => l.includes(secret));
      expect(line, `a log line with a secret or token`).toBeUndefined();
    }
    expect(log).toMatch(/outbox writer: a write of \d+ session batches failed/);
    expect(log, "a customer's message in the log").not.toContain(words);
    // Not even the signature part of a token (a log may cut the rest).
    for (const jwt of new Set(tokens)) {
      const signature = jwt.split(".")[2];
      if (signature) expect(log).not.toContain(signature);
    }
  }, 120_000);
});
