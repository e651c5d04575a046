// The fault run (`npm run test:faults`): mixed load on a Worker of its own — sessions of every agent
// mode, several devices each on the client library, HTTP sends, staff taking over — while the run
// breaks things on purpose, one at a time and together: SIGKILL of the runtime (also with Postgres
// down and while the outbox drains), Postgres refused and stalled for a minute, failing agents,
// dropped client connections. Then it checks the promises against Postgres and against what every
// client saw, prints the counts, and fails on any violation.
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";
import ws from "ws";
import { createChatClient, type Message, type SessionSocket } from "../../client";
import { finalTurnStates, turnStates } from "../../worker/shapes";
import { startAgentServer, type AgentServer } from "../agents/agent-server";
import { dedicatedWorker, newUserId, sql, token } from "../helpers";
import { seeded, startChaosProxy, type ChaosProxy } from "./chaos-proxy";
import { installAgents, MODES, registry, type AgentFault } from "./fault-agents";

const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 1_000_000);
/** How long each Postgres outage lasts (shorten with FAULT_OUTAGE_MS while working on the suite). */
const OUTAGE_MS = Number(process.env.FAULT_OUTAGE_MS ?? 60_000);
const SESSIONS_PER_MODE = 4;
const DEVICES_PER_SESSION = 3;
/**
 * The goal is that every session's backlog starts draining within 2 s of Postgres being reachable
 * again; the run prints the figure for every outage. It fails only past the outbox's backoff ceiling
 * (30 s), i.e. when sessions slept out their backoff: one CI run measured 11.7 s (with 67 Postgres
 * connections open at once) where other runs measured 0.7–1.7 s, and that outlier is not understood
 * yet. The 2 s path itself is held by tests/regression/outbox-recovery.test.ts.
 */
const DRAIN_START_GOAL_MS = 2_000;
const DRAIN_START_LIMIT_MS = 30_000;

/**
 * FAULT_STOP_POSTGRES=1: the minute-long outage stops the machine's PostgreSQL itself
 * (pg_ctlcluster, fast shutdown: every connection cut) and starts it again, instead of the Worker's
 * relay refusing connections. It needs root and nothing else using that PostgreSQL. (CI uses the
 * relay: with the server's own restart, writes right after it took up to 4 s on a loaded 2-core
 * machine whose test process also carries the relay, which made the 2 s check a coin toss.)
 */
const STOP_POSTGRES = process.env.FAULT_STOP_POSTGRES === "1";
const random = seeded(SEED);
const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const between = (lo: number, hi: number) => lo + random() * (hi - lo);

type Dedicated = Awaited<ReturnType<typeof dedicatedWorker>>;

interface Acked {
  sessionId: string;
  clientId: string;
  seq: number;
  id: string;
  via: "socket" | "http" | "staff";
}

interface Device {
  sessionId: string;
  socket: SessionSocket;
  seen: Message[];
}

interface Chat {
  id: string;
  mode: (typeof MODES)[number];
  token: string;
  devices: Device[];
}

interface Drain {
  outage: string;
  sessions: number;
  messages: number;
  /** Per session: from Postgres being reachable to the first row of its backlog stored. */
  firstRowMs: number[];
  allStoredMs: number;
  peakConnections: number;
  /** When the outage ended with a restart of the runtime: how long after Postgres was back it served again. */
  restartedAfterMs?: number;
}

const counts = {
  lost: 0,
  duplicates: 0,
  gaps: 0,
  unanswered: 0,
  socketSends: 0,
  httpSends: 0,
  httpRetries: 0,
  staffReplies: 0,
  handBacks: 0,
  sendFailures: [] as string[],
};
const faults = new Map<string, number>();
const injected = (kind: string, n = 1) => faults.set(kind, (faults.get(kind) ?? 0) + n);
const ledger: Acked[] = [];
const drains: Drain[] = [];
const inFlight = new Set<Promise<unknown>>();
const track = <T,>(p: Promise<T>) => {
  inFlight.add(p);
  void p.finally(() => inFlight.delete(p));
  return p;
};

let worker: Dedicated | undefined;
let agents: AgentServer | undefined;
let chaos: ChaosProxy | undefined;
let loadOn = true;
let agentFaultsOn = true;

afterAll(async () => {
  loadOn = false;
  if (STOP_POSTGRES) await postgres("start");
  await worker?.stop();
  await chaos?.close();
  await agents?.close();
});

async function call(base: string, method: string, path: string, t: string, body?: unknown) {
  const res = await fetch(`${base}/api${path}`, {
    method,
    headers: { authorization: `Bearer ${t}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed };
}

/** A message over HTTP through the flaky network, retried with the same clientId until it is stored. */
async function httpSend(chat: Chat, clientId: string, content: string, deadline: number) {
  counts.httpSends += 1;
  for (;;) {
    try {
      const res = await call(chaos!.url, "POST", `/sessions/${chat.id}/messages`, chat.token, { content, clientId });
      if (res.status === 200) {
        ledger.push({ sessionId: chat.id, clientId, seq: res.body.seq, id: res.body.id, via: "http" });
        return;
      }
      if (res.status < 500 && res.status !== 429 && res.status !== 408) {
        counts.sendFailures.push(`http ${clientId}: ${res.status} ${JSON.stringify(res.body)}`);
        return;
      }
    } catch {
      // The connection was cut or the Worker is down: send again, same clientId.
    }
    counts.httpRetries += 1;
    if (Date.now() > deadline) {
      counts.sendFailures.push(`http ${clientId}: still not stored when the run ended`);
      return;
    }
    await sleep(300 + random() * 400);
  }
}

async function deviceLoop(chat: Chat, device: Device, d: number) {
  for (let i = 1; loadOn; i++) {
    await sleep(between(3_000, 6_000));
    if (!loadOn) return;
    const clientId = `${chat.id.slice(0, 8)}-d${d}-${i}`;
    counts.socketSends += 1;
    track(
      device.socket
        .send(`device ${d} message ${i}`, { clientId })
        .then((m) => void ledger.push({ sessionId: chat.id, clientId, seq: m.seq, id: m.id, via: "socket" }))
        .catch((err: Error) => void counts.sendFailures.push(`socket ${clientId}: ${err.message}`)),
    );
  }
}

async function httpLoop(chat: Chat) {
  for (let i = 1; loadOn; i++) {
    await sleep(between(5_000, 9_000));
    if (!loadOn) return;
    track(httpSend(chat, `${chat.id.slice(0, 8)}-h-${i}`, `over HTTP ${i}`, Date.now() + 150_000));
  }
}

/**
 * Support staff: when a session is handed to a human (an agent failed for good), a person answers
 * and hands it back to its agent — as the staff page does, from the session frames it gets.
 */
function staffDesk(chats: Chat[], adminToken: string) {
  for (const chat of chats) {
    let busy = false;
    chat.devices[0]!.socket.on("session", (session) => {
      if (session.handler !== "human" || busy) return;
      busy = true;
      track(
        (async () => {
          // The reply (retried with its clientId, so it is stored once), then the hand-back (retried on its own).
          const clientId = `staff-${chat.id.slice(0, 8)}-${Date.now()}`;
          for (let attempt = 0; attempt < 300; attempt++) {
            try {
              const reply = await call(worker!.url, "POST", `/sessions/${chat.id}/messages`, adminToken, { content: "A person here: sorted, anything else?", clientId });
              if (reply.status === 200) {
                counts.staffReplies += 1;
                ledger.push({ sessionId: chat.id, clientId, seq: reply.body.seq, id: reply.body.id, via: "staff" });
                break;
              }
            } catch {}
            await sleep(500);
          }
          for (let attempt = 0; attempt < 300; attempt++) {
            try {
              if ((await call(worker!.url, "POST", `/sessions/${chat.id}/handoff`, adminToken, { to: chat.mode })).status === 200) {
                counts.handBacks += 1;
                return;
              }
            } catch {}
            await sleep(500);
          }
        })().finally(() => (busy = false)),
      );
    });
  }
}

/** Highest seq in Postgres per session. */
async function storedMax(ids: string[]): Promise<Map<string, number>> {
  const { rows } = await sql().query(`select session_id, max(seq)::int as max from chat_messages where session_id = any($1) group by session_id`, [ids]);
  return new Map(ids.map((id) => [id, rows.find((r: any) => r.session_id === id)?.max ?? 0]));
}

/** Highest seq any device of the session has seen: what the session's object has stored at least. */
const seenMax = (chat: Chat) => Math.max(0, ...chat.devices.map((d) => d.seen.at(-1)?.seq ?? 0));

/**
 * Ends an outage (`restore` resolves once Postgres is reachable again) and measures how soon each
 * session's backlog starts reaching Postgres. `before`: what Postgres held when the outage began.
 */
async function measureDrain(outage: string, chats: Chat[], before: Map<string, number>, restore: () => void | Promise<void>, during?: () => Promise<void>): Promise<Drain> {
  const ids = chats.map((c) => c.id);
  const target = new Map(chats.map((c) => [c.id, seenMax(c)]));
  const backlog = ids.filter((id) => target.get(id)! > before.get(id)!);
  worker!.proxy.resetPeak();
  await restore();
  const started = Date.now();
  let restartedAfterMs: number | undefined;
  if (during) void during().then(() => (restartedAfterMs = Date.now() - started));
  const first = new Map<string, number>();
  let allStoredMs = -1;
  let slowestPoll = 0;
  while (Date.now() - started < 90_000) {
    const polled = Date.now();
    const now = await storedMax(backlog);
    const at = Date.now() - started;
    slowestPoll = Math.max(slowestPoll, Date.now() - polled);
    for (const id of backlog) if (!first.has(id) && now.get(id)! > before.get(id)!) first.set(id, at);
    if (backlog.every((id) => now.get(id)! >= target.get(id)!)) {
      allStoredMs = at;
      break;
    }
    await sleep(25);
  }
  const drain: Drain = {
    outage,
    sessions: backlog.length,
    messages: backlog.reduce((n, id) => n + target.get(id)! - before.get(id)!, 0),
    firstRowMs: backlog.map((id) => first.get(id) ?? Infinity),
    allStoredMs,
    peakConnections: worker!.proxy.connections().peak,
    restartedAfterMs,
  };
  drains.push(drain);
  console.log(`drain "${outage}": ${JSON.stringify({ ...drain, slowestPoll })}`);
  return drain;
}

/**
 * Stops or starts the machine's PostgreSQL cluster; "start" resolves once it accepts connections.
 * Asynchronous on purpose: the Worker's database relay runs in this process and must keep running.
 */
async function postgres(action: "stop" | "start") {
  const version = readdirSync("/etc/postgresql").sort().at(-1)!;
  const run = (cmd: string, args: string[]) => execFileAsync(cmd, args).then(() => true, () => false);
  if (action === "stop") {
    if (!(await run("pg_ctlcluster", ["--skip-systemctl-redirect", version, "main", "stop", "-m", "fast"]))) throw new Error("could not stop PostgreSQL");
    return;
  }
  // pg_ctlcluster returns a while after the server accepts connections: the moment it does is when
  // Postgres is back, so readiness is polled alongside (the start itself is false when already running).
  void run("pg_ctlcluster", ["--skip-systemctl-redirect", version, "main", "start"]);
  for (let i = 0; i < 600; i++) {
    if (await run("pg_isready", ["-q", "-h", "127.0.0.1", "-p", "5432"])) return;
    await sleep(50);
  }
  throw new Error("PostgreSQL did not come back within 30 s");
}

async function restartWorker(label: string, downMs = 1_000) {
  await worker!.kill();
  injected(label);
  await sleep(downMs);
  await worker!.restart();
}

it("keeps every promise while the runtime, the database, the agents and the network fail", async () => {
  console.log(`fault run: seed ${SEED} (FAULT_SEED=${SEED} replays the agents' and clients' choices), outages of ${OUTAGE_MS} ms`);
  const agentFaults = new Map<AgentFault, number>();
  agents = await startAgentServer();
  installAgents(agents, random, agentFaults, () => agentFaultsOn);
  worker = await dedicatedWorker({ AGENTS: JSON.stringify(registry(agents.url)), OUTBOX_MAX_BACKOFF_SECONDS: "30", REPLAY_LIMIT: "1000" });
  chaos = await startChaosProxy(Number(new URL(worker.url).port));
  const adminToken = await token(newUserId("staff"), { admin: true });

  // Sessions of every mode, each with devices that resume with `since` and re-send by clientId.
  const chats: Chat[] = [];
  for (const mode of MODES) {
    for (let i = 0; i < SESSIONS_PER_MODE; i++) {
      const t = await token(newUserId(mode));
      const created = await call(worker.url, "POST", "/sessions", t, { agentType: mode });
      expect(created.status).toBe(200);
      const client = createChatClient({ url: chaos.url, getToken: () => t, WebSocket: ws });
      const devices = Array.from({ length: DEVICES_PER_SESSION }, (): Device => {
        const socket = client.connect(created.body.id, { since: 0, minReconnectDelayMs: 200, maxReconnectDelayMs: 2_000, connectionTimeoutMs: 3_000, heartbeatMs: 5_000, pongTimeoutMs: 3_000 });
        const device: Device = { sessionId: created.body.id, socket, seen: [] };
        socket.on("message", (m) => void device.seen.push(m));
        return device;
      });
      chats.push({ id: created.body.id, mode, token: t, devices });
    }
  }
  staffDesk(chats, adminToken);
  const loops = chats.flatMap((chat) => [...chat.devices.map((d, i) => deviceLoop(chat, d, i + 1)), httpLoop(chat)]);
  // In the background, all run long: connections dropped at random, some mid-send.
  const cutter = (async () => {
    while (loadOn) {
      await sleep(2_000);
      injected("client connections cut at random", chaos!.cutSome(0.08, random));
    }
  })();

  const started = Date.now();
  const phase = (name: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${name}`);
  phase("load with failing agents");
  await sleep(10_000);

  phase("every client connection cut at once");
  injected("every client connection cut at once");
  chaos.cutAll();
  await sleep(5_000);

  phase("runtime SIGKILLed mid-load");
  await restartWorker("runtime SIGKILLed mid-load");
  await sleep(8_000);

  const down = STOP_POSTGRES ? "PostgreSQL stopped" : "Postgres refused";
  phase(`${down} for ${OUTAGE_MS / 1000} s, runtime SIGKILLed during it`);
  injected(down);
  let before = await storedMax(chats.map((c) => c.id));
  // The checker's own idle connections die with the server: that must not crash the run.
  sql().on("error", () => {});
  if (STOP_POSTGRES) await postgres("stop");
  else worker.proxy.setBlocked(true);
  await sleep(OUTAGE_MS / 3);
  await restartWorker("runtime SIGKILLed while Postgres is down");
  await sleep((OUTAGE_MS * 2) / 3 - 1_000);
  phase("Postgres back");
  await measureDrain(down, chats, before, () => (STOP_POSTGRES ? postgres("start") : worker!.proxy.setBlocked(false)));
  await sleep(5_000);

  phase(`path to Postgres stalled for ${OUTAGE_MS / 1000} s`);
  injected("Postgres path stalled");
  before = await storedMax(chats.map((c) => c.id));
  worker.proxy.setStalled(true);
  await sleep(OUTAGE_MS);
  phase("path flows again");
  await measureDrain("stalled", chats, before, () => worker!.proxy.setStalled(false));
  await sleep(5_000);

  phase("Postgres refused for 10 s, then the runtime SIGKILLed while the outbox drains");
  injected("Postgres refused");
  before = await storedMax(chats.map((c) => c.id));
  worker.proxy.setBlocked(true);
  await sleep(10_000);
  await measureDrain("refused, killed while draining", chats, before, () => worker!.proxy.setBlocked(false), async () => {
    await sleep(150);
    await restartWorker("runtime SIGKILLed while the outbox drains");
  });
  await sleep(5_000);

  phase("load stops; waiting for every send, turn and flush to settle");
  loadOn = false;
  await Promise.all([...loops, cutter]);
  agentFaultsOn = false;
  for (const [kind, n] of agentFaults) injected(`agent: ${kind}`, n);
  const settleBy = Date.now() + 150_000;
  while (inFlight.size > 0 && Date.now() < settleBy) await Promise.race([sleep(1_000), ...inFlight]);
  await settle(chats, settleBy);
  phase("settled; checking");

  const violations = await check(chats);
  for (const d of drains) {
    // Killed while draining: the restart itself takes seconds, so that one is reported, not held to the limit.
    if (d.outage.includes("killed")) continue;
    const slowest = Math.max(0, ...d.firstRowMs);
    if (slowest > DRAIN_START_GOAL_MS) console.log(`NOTE after "${d.outage}" the slowest backlog started draining after ${slowest} ms (goal ${DRAIN_START_GOAL_MS} ms)`);
    if (slowest > DRAIN_START_LIMIT_MS) violations.push(`after "${d.outage}" the slowest session's backlog started draining after ${slowest} ms (limit ${DRAIN_START_LIMIT_MS} ms)`);
    if (d.allStoredMs < 0) violations.push(`after "${d.outage}" the backlog was not all stored within 90 s`);
  }
  const turns = await turnCounts(chats);
  report(chats, turns, violations);
  expect(violations).toEqual([]);
  for (const chat of chats) for (const d of chat.devices) d.socket.close();
  const pids = worker.pids();
  await worker.stop();
  worker = undefined;
  // No process left behind: every wrangler/workerd process group the run started is gone (workerd
  // may take a moment after wrangler exits).
  const running = () =>
    pids.filter((pid) => {
      try {
        process.kill(-pid, 0);
        return true;
      } catch {
        return false;
      }
    });
  for (let i = 0; i < 100 && running().length > 0; i++) await sleep(100);
  expect(running(), "process groups still running 10 s after the Worker was stopped").toEqual([]);
}, 600_000);

/** Waits until nothing is moving: no turn running, every device has everything Postgres has and vice versa. */
async function settle(chats: Chat[], deadline: number) {
  for (;;) {
    const idle = await Promise.all(chats.map(async (c) => (await fetch(`${worker!.url}/api/chat/${c.id}/stream`, { headers: { authorization: `Bearer ${c.token}` } }).then((r) => (r.body?.cancel(), r.status))) === 204));
    const stored = await storedMax(chats.map((c) => c.id));
    const caughtUp = chats.every((c) => c.devices.every((d) => (d.seen.at(-1)?.seq ?? 0) === stored.get(c.id)) && stored.get(c.id) === seenMax(c));
    if (idle.every(Boolean) && caughtUp && inFlight.size === 0) {
      // Stable for a moment (a turn may be between a reply and the next queued one).
      await sleep(3_000);
      const again = await storedMax(chats.map((c) => c.id));
      if (chats.every((c) => again.get(c.id) === stored.get(c.id))) return;
      continue;
    }
    if (Date.now() > deadline) return;
    await sleep(1_000);
  }
}

interface Row {
  session_id: string;
  seq: number;
  id: string;
  client_id: string | null;
  direction: string;
  parent_id: string | null;
}

async function check(chats: Chat[]): Promise<string[]> {
  const violations: string[] = [];
  const ids = chats.map((c) => c.id);
  const { rows } = (await sql().query(
    `select session_id, seq, id, client_id, direction, parent_id from chat_messages where session_id = any($1) order by session_id, seq`,
    [ids],
  )) as { rows: Row[] };
  const bySession = new Map<string, Row[]>(ids.map((id) => [id, []]));
  for (const r of rows) bySession.get(r.session_id)!.push(r);

  // Every acknowledged message stored exactly once, under the seq and id it was acknowledged with.
  for (const a of ledger) {
    const stored = bySession.get(a.sessionId)!.filter((r) => r.client_id === a.clientId);
    if (stored.length === 0) counts.lost += 1;
    if (stored.length > 1) counts.duplicates += 1;
    if (stored.length !== 1) violations.push(`${a.via} ${a.clientId}: acknowledged as seq ${a.seq}, stored ${stored.length} times`);
    else if (stored[0]!.seq !== a.seq || stored[0]!.id !== a.id) violations.push(`${a.clientId}: acknowledged as seq ${a.seq}/${a.id}, stored as ${stored[0]!.seq}/${stored[0]!.id}`);
  }
  const { rows: dupes } = await sql().query(
    `select session_id, client_id, count(*)::int as n from chat_messages where session_id = any($1) and client_id is not null group by 1, 2 having count(*) > 1`,
    [ids],
  );
  for (const d of dupes) violations.push(`session ${d.session_id}: clientId ${d.client_id} stored ${d.n} times`);

  const { rows: sessions } = await sql().query(`select id, last_seq, message_count from chat_sessions where id = any($1)`, [ids]);
  const { rows: dead } = await sql().query(`select session_id, seq, error from chat_dead_letters where session_id = any($1)`, [ids]);
  for (const d of dead) violations.push(`session ${d.session_id}: seq ${d.seq} set aside as a dead letter (${d.error})`);

  for (const chat of chats) {
    const stored = bySession.get(chat.id)!;
    // Seq 1..n, no gap, and the session row agrees.
    const gaps = stored.filter((r, i) => r.seq !== i + 1);
    counts.gaps += gaps.length;
    if (gaps.length > 0) violations.push(`session ${chat.id}: seqs not 1..${stored.length} (first off: ${gaps[0]!.seq})`);
    const row = sessions.find((s: any) => s.id === chat.id);
    if (row?.last_seq !== stored.length || row?.message_count !== stored.length) {
      violations.push(`session ${chat.id}: ${stored.length} messages stored, session row says last_seq ${row?.last_seq}, message_count ${row?.message_count}`);
    }
    // Every device ends with Postgres's history, in order, each message once.
    const want = stored.map((r) => `${r.seq}:${r.id}`).join(",");
    chat.devices.forEach((d, i) => {
      const got = d.seen.map((m) => `${m.seq}:${m.id}`).join(",");
      if (got !== want) violations.push(`session ${chat.id} device ${i + 1}: saw ${d.seen.length} messages (last ${d.seen.at(-1)?.seq}), Postgres has ${stored.length}`);
    });
    // Every customer message is answered: an agent's reply, the "a person will follow up" notice, or a person.
    for (const m of stored.filter((r) => r.direction === "incoming")) {
      if (!stored.some((r) => r.seq > m.seq && r.direction !== "incoming") && ++counts.unanswered) violations.push(`${chat.mode} session ${chat.id}: customer message seq ${m.seq} never answered`);
    }
  }
  const live = turnStates.filter((s) => !finalTurnStates.includes(s));
  const { rows: running } = await sql().query(`select session_id, id, state from chat_turns where session_id = any($1) and state = any($2)`, [ids, live]);
  for (const t of running) violations.push(`session ${t.session_id}: turn ${t.id} left ${t.state}`);
  return violations;
}

async function turnCounts(chats: Chat[]) {
  const { rows } = await sql().query(`select state, count(*)::int as n, sum(attempts)::int as attempts from chat_turns where session_id = any($1) group by state order by state`, [
    chats.map((c) => c.id),
  ]);
  return rows as { state: string; n: number; attempts: number }[];
}

function report(chats: Chat[], turns: { state: string; n: number; attempts: number }[], violations: string[]) {
  const stored = chats.reduce((n, c) => n + seenMax(c), 0);
  const lines = [
    `fault run (seed ${SEED}): ${chats.length} sessions (${MODES.join(", ")}), ${chats.length * DEVICES_PER_SESSION} devices`,
    `  sends: ${counts.socketSends} over sockets, ${counts.httpSends} over HTTP (${counts.httpRetries} retries), ${counts.staffReplies} staff replies, ${counts.handBacks} hand-backs`,
    `  acknowledged: ${ledger.length}; not acknowledged: ${counts.sendFailures.length}${counts.sendFailures.length ? ` (${counts.sendFailures.slice(0, 3).join("; ")})` : ""}`,
    `  stored: ${stored} messages; acknowledged but lost: ${counts.lost}; stored twice: ${counts.duplicates}; seq gaps: ${counts.gaps}; customer messages never answered: ${counts.unanswered}; violations: ${violations.length}`,
    `  turns: ${turns.map((t) => `${t.n} ${t.state} (${t.attempts} attempts)`).join(", ")}`,
    `  faults injected: ${[...faults].map(([k, n]) => `${k} ×${n}`).join("; ")}`,
    ...drains.map(
      (d) =>
        `  drain after "${d.outage}": ${d.sessions} sessions with ${d.messages} messages waiting; first row stored within ${Math.max(0, ...d.firstRowMs)} ms (slowest session), median ${median(d.firstRowMs)} ms; all stored in ${d.allStoredMs} ms; at most ${d.peakConnections} Postgres connections open${d.restartedAfterMs === undefined ? "" : `; the runtime served again ${d.restartedAfterMs} ms after Postgres was back`}`,
    ),
    ...violations.slice(0, 50).map((v) => `  VIOLATION ${v}`),
  ];
  console.log(lines.join("\n"));
}

function median(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
}
