// `npm run bench`: the message path and history at scale, each figure beside the same figure for a
// bare reference Durable Object measured in the same run. See the README's "Benchmarks" section.
//
// Needs a PostgreSQL server: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres). The
// bench creates its own database on that server (edge_chat_bench), recreated each run.
import { execFileSync, spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import pg from "pg";
import { SignJWT } from "jose";
import { ROOT, freePort, migratePostgres, startWorker } from "../scripts/local-stack.mjs";
import { Client, openMany, progress, progressDone, round, sleep, summary } from "./load.mjs";
import { renderChart, renderTable, updateReadme } from "./report.mjs";

const N1 = Number(process.env.BENCH_N1 ?? 3000);
const S2_SESSIONS = Number(process.env.BENCH_S2_SESSIONS ?? 100);
const S2_PER_SOCKET = Number(process.env.BENCH_S2_PER_SOCKET ?? 30);
const S3_SOCKETS = Number(process.env.BENCH_S3_SOCKETS ?? 500);
const S3_MESSAGES = Number(process.env.BENCH_S3_MESSAGES ?? 200);
const S4_MESSAGES = Number(process.env.BENCH_S4_MESSAGES ?? 100_000);
const S4_READS = Number(process.env.BENCH_S4_READS ?? 200);
const S6_SOCKETS = Number(process.env.BENCH_S6_SOCKETS ?? 1000);
const S6_WAIT_SECONDS = Number(process.env.BENCH_S6_WAIT_SECONDS ?? 20);
const S7_TURNS = Number(process.env.BENCH_S7_TURNS ?? 300);
const S7_PER_SOCKET = Number(process.env.BENCH_S7_PER_SOCKET ?? 10);
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",").map(Number)) : null;
const runs = (n) => !ONLY || ONLY.has(n);
const JWT_SECRET = "bench-secret-0123456789abcdef0123456789";

// The product runs with its limits switched far up: the checks still run on every message.
const BENCH_VARS = {
  MESSAGE_RATE_PER_MINUTE: "100000000",
  MESSAGE_BURST: "1000000",
  HTTP_RATE_LIMIT: "100000000",
  SESSION_CREATE_LIMIT: "100000000",
  MAX_OPEN_SESSIONS_PER_AGENT: "1000000",
};

/** The Neon-protocol proxy in its own process, as Neon's endpoint would be in production. */
async function proxyProcess() {
  const child = spawn(process.execPath, [join(ROOT, "scripts", "pg-proxy.mjs")], { stdio: ["ignore", "pipe", "inherit"] });
  const proxyUrl = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`proxy exited with ${code}`)));
    child.stdout.once("data", (d) => resolve(String(d).trim()));
  });
  return {
    proxyUrl,
    stop: () => new Promise((resolve) => {
      child.once("exit", resolve);
      child.kill("SIGTERM");
    }),
  };
}

async function benchDatabase() {
  const server = new URL(process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres");
  const admin = new pg.Client({ connectionString: server.toString() });
  await admin.connect();
  try {
    await admin.query("drop database if exists edge_chat_bench with (force)");
    await admin.query("create database edge_chat_bench");
  } finally {
    await admin.end();
  }
  server.pathname = "/edge_chat_bench";
  return server.toString();
}

const tokens = new Map();
async function tokenFor(userId) {
  if (!tokens.has(userId)) {
    tokens.set(userId, await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(userId).setExpirationTime("6h").sign(new TextEncoder().encode(JWT_SECRET)));
  }
  return tokens.get(userId);
}

/** The product: sessions are created through the API; sockets authenticate with the subprotocol. */
function productTarget(url) {
  return {
    name: "edge-chat",
    url,
    async session(n, agentType) {
      const userId = `bench-user-${n}-${Math.random().toString(36).slice(2, 8)}`;
      const token = await tokenFor(userId);
      const res = await fetch(`${url}/api/sessions`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(agentType ? { agentType } : {}),
      });
      if (res.status !== 200) throw new Error(`session create: ${res.status} ${await res.text()}`);
      const { id } = await res.json();
      return { id, socket: () => ({ url: `${url.replace(/^http/, "ws")}/api/sessions/${id}/ws`, protocols: ["edge-chat", `bearer.${token}`] }) };
    },
  };
}

/** The floor: a bare DO per session id, same frames. */
function referenceTarget(url, agentsUrl) {
  const paths = { sync: "/sync", stream: "/stream" };
  return {
    name: "reference",
    url,
    async session(_n, agentType) {
      const id = crypto.randomUUID();
      const agent = agentType && paths[agentType] ? `?agent=${encodeURIComponent(`${agentsUrl}${paths[agentType]}`)}` : "";
      return { id, socket: () => ({ url: `${url.replace(/^http/, "ws")}/s/${id}/ws${agent}` }) };
    },
  };
}

// ---- scenarios -------------------------------------------------------------------------------

/** Rounds per scenario 1 and 2: the two targets take turns, so drift on a shared machine hits both alike. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** Runs `round(target, r)` for both targets, alternating, and returns each target's rounds. */
async function interleaved(targets, round) {
  const out = targets.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, t] of targets.entries()) out[i].push(await round(t, r));
  }
  return out;
}

async function scenario1Setup(target) {
  const s = await target.session(0);
  const [c] = await openMany(1, s.socket);
  for (let i = 0; i < 200; i++) await c.send(`warm-${i}`, "warm up");
  return {
    async round(r) {
      const n = Math.ceil(N1 / ROUNDS);
      const latencies = [];
      const started = performance.now();
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await c.send(`s1-${r}-${i}`, `sequential message ${i}`);
        latencies.push(performance.now() - t0);
        if (i % 200 === 0) progress(`[1] ${target.name}: round ${r + 1}/${ROUNDS}, ${i}/${n} acks`);
      }
      return { n, ms: performance.now() - started, latencies };
    },
    close: () => c.close(),
  };
}

async function scenario1(product, reference) {
  const setups = [await scenario1Setup(product), await scenario1Setup(reference)];
  const rounds = await interleaved(setups, (setup, r) => setup.round(r));
  await Promise.all(setups.map((x) => x.close()));
  const [ours, ref] = rounds.map((rs) => {
    const n = rs.reduce((a, x) => a + x.n, 0);
    const ms = rs.reduce((a, x) => a + x.ms, 0);
    return { messages: n, acksPerSecond: round(n / (ms / 1000), 0), latencyMs: summary(rs.flatMap((x) => x.latencies)) };
  });
  return { ours, reference: ref };
}

async function scenario2Setup(target, { onAck } = {}) {
  const sessions = [];
  for (let i = 0; i < S2_SESSIONS; i++) sessions.push(await target.session(1000 + i));
  const clients = await openMany(S2_SESSIONS * 2, (i) => sessions[i >> 1].socket(), 40, (n) => progress(`[2] ${target.name}: ${n}/${S2_SESSIONS * 2} sockets open`));
  const counts = { delivered: 0, expected: 0, acks: 0 };
  clients.forEach((c, i) => {
    const peerPrefix = `s2-${i ^ 1}-`;
    c.onMessage = (m) => {
      if (m.clientId?.startsWith(peerPrefix)) counts.delivered++;
    };
  });
  const total = clients.length * S2_PER_SOCKET;
  return {
    sessionIds: sessions.map((s) => s.id),
    counts,
    async round(r) {
      const perSocket = Math.ceil(S2_PER_SOCKET / ROUNDS);
      const latencies = [];
      const started = performance.now();
      await Promise.all(
        clients.map(async (c, i) => {
          for (let k = 0; k < perSocket; k++) {
            const t0 = performance.now();
            const ack = await c.send(`s2-${i}-${r}-${k}`, `message ${k} of round ${r} from socket ${i}`);
            latencies.push(performance.now() - t0);
            counts.acks++;
            counts.expected++;
            onAck?.(sessions[i >> 1].id, ack.seq, Date.now());
            if (counts.acks % 500 === 0) progress(`[2] ${target.name}: ${counts.acks}/${total} acks`);
          }
        }),
      );
      const ms = performance.now() - started;
      // Deliveries may trail the last ack by a moment.
      for (let i = 0; i < 50 && counts.delivered < counts.expected; i++) await sleep(100);
      return { n: clients.length * perSocket, ms, latencies };
    },
    close: () => Promise.all(clients.map((c) => c.close())),
  };
}

async function scenario2(product, reference, onAck) {
  const setups = [await scenario2Setup(product, { onAck }), await scenario2Setup(reference)];
  const rounds = await interleaved(setups, (setup, r) => setup.round(r));
  await Promise.all(setups.map((x) => x.close()));
  const [ours, ref] = rounds.map((rs, i) => {
    const n = rs.reduce((a, x) => a + x.n, 0);
    const ms = rs.reduce((a, x) => a + x.ms, 0);
    const { delivered, expected, acks } = setups[i].counts;
    return { sessions: S2_SESSIONS, acks, acksPerSecond: round(n / (ms / 1000), 0), latencyMs: summary(rs.flatMap((x) => x.latencies)), deliveries: delivered, deliveryRate: round(delivered / expected, 4) };
  });
  return { ours, reference: ref, sessionIds: setups[0].sessionIds };
}

async function scenario3(target) {
  const s = await target.session(5000);
  const clients = await openMany(S3_SOCKETS, () => s.socket(), 25, (n) => progress(`[3] ${target.name}: ${n}/${S3_SOCKETS} sockets open`));
  const sender = clients[0];
  const times = [];
  for (let k = 0; k < S3_MESSAGES; k++) {
    const clientId = `s3-${k}`;
    let remaining = clients.length;
    let t0 = 0;
    const all = new Promise((resolve) => {
      for (const c of clients) {
        c.onMessage = (m) => {
          if (m.clientId === clientId && --remaining === 0) resolve(performance.now());
        };
      }
    });
    t0 = performance.now();
    await sender.send(clientId, `fan-out ${k}`);
    times.push((await all) - t0);
    progress(`[3] ${target.name}: ${k + 1}/${S3_MESSAGES} messages delivered to all ${clients.length}`);
  }
  await Promise.all(clients.map((c) => c.close()));
  return { sockets: clients.length, allReceivedMs: summary(times) };
}

async function seedHistory(databaseUrl) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const userId = "bench-history";
  const id = crypto.randomUUID();
  try {
    await db.query(
      `insert into chat_sessions (id, user_id, agent_type, status, message_count, last_seq, expires_at)
       values ($1, $2, 'primary', 'active', $3, $3, now() + interval '1 day')`,
      [id, userId, S4_MESSAGES],
    );
    await db.query(
      `insert into chat_messages (session_id, user_id, seq, direction, content, message_type, created_at)
       select $1, $2, g, case when g % 2 = 0 then 'outgoing' else 'incoming' end,
              'history message ' || g || ' ' || repeat('x', 80), 'text', now() - (($3 - g) || ' seconds')::interval
       from generate_series(1, $3) g`,
      [id, userId, S4_MESSAGES],
    );
    await db.query("analyze chat_messages");
  } finally {
    await db.end();
  }
  return { id, userId };
}

const HISTORY_CASES = () => [
  { name: "keyset start", query: { after: 0 }, sql: "seq > $2 order by seq limit 51", arg: 0 },
  { name: "keyset middle", query: { after: S4_MESSAGES / 2 }, sql: "seq > $2 order by seq limit 51", arg: S4_MESSAGES / 2 },
  { name: "keyset end", query: {}, sql: "seq < $2 order by seq desc limit 51", arg: S4_MESSAGES + 1 },
  { name: "offset start", query: { offset: 0 }, sql: "true order by seq offset $2 limit 51", arg: 0 },
  { name: "offset middle", query: { offset: S4_MESSAGES / 2 }, sql: "true order by seq offset $2 limit 51", arg: S4_MESSAGES / 2 },
  { name: "offset end", query: { offset: S4_MESSAGES - 50 }, sql: "true order by seq offset $2 limit 51", arg: S4_MESSAGES - 50 },
];

async function scenario4(url, databaseUrl, history) {
  const token = await tokenFor(history.userId);
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const results = {};
  try {
    for (const c of HISTORY_CASES()) {
      const e2e = [];
      const page = [];
      const floor = [];
      const qs = new URLSearchParams({ limit: "50", ...Object.fromEntries(Object.entries(c.query).map(([k, v]) => [k, String(v)])) });
      for (let i = 0; i < S4_READS; i++) {
        const t0 = performance.now();
        const res = await fetch(`${url}/api/sessions/${history.id}/history?${qs}`, { headers: { authorization: `Bearer ${token}` } });
        const body = await res.json();
        e2e.push(performance.now() - t0);
        if (res.status !== 200 || body.messages.length !== 50) throw new Error(`history ${c.name}: ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
        const timing = res.headers.get("server-timing") ?? "";
        const dur = timing.match(/page;dur=([\d.]+)/);
        if (dur) page.push(Number(dur[1]));
        // The floor: the same page straight from PostgreSQL over TCP on a warm connection.
        const t1 = performance.now();
        await db.query(`select * from chat_messages where session_id = $1 and ${c.sql}`, [history.id, c.arg]);
        floor.push(performance.now() - t1);
        if (i % 20 === 0) progress(`[4] history ${c.name}: ${i}/${S4_READS} reads`);
      }
      results[c.name] = { e2eMs: summary(e2e), queryInWorkerMs: summary(page), postgresDirectMs: summary(floor) };
    }
  } finally {
    await db.end();
  }
  return results;
}

/** Outbox lag: a statement trigger in the bench database NOTIFYs each committed batch. */
async function listenOutbox(databaseUrl) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  await db.query(`
    create or replace function bench_outbox_notify() returns trigger language plpgsql as $$
    declare r record;
    begin
      for r in select session_id, max(seq) as seq from new_rows group by session_id loop
        perform pg_notify('bench_outbox', r.session_id || ' ' || r.seq);
      end loop;
      return null;
    end $$;
    drop trigger if exists bench_outbox on chat_messages;
    create trigger bench_outbox after insert on chat_messages referencing new table as new_rows
      for each statement execute function bench_outbox_notify();`);
  const acked = new Map(); // sessionId → Map(seq → ack time)
  const lags = [];
  db.on("notification", ({ payload }) => {
    const at = Date.now();
    const [sessionId, seq] = payload.split(" ");
    const pending = acked.get(sessionId);
    if (!pending) return;
    for (const [s, t] of pending) {
      if (s <= Number(seq)) {
        lags.push(at - t);
        pending.delete(s);
      }
    }
  });
  await db.query("listen bench_outbox");
  return {
    onAck(sessionId, seq, at) {
      if (!acked.has(sessionId)) acked.set(sessionId, new Map());
      acked.get(sessionId).set(seq, at);
    },
    lags,
    unseen: () => [...acked.values()].reduce((n, m) => n + m.size, 0),
    async close() {
      await db.query("drop trigger if exists bench_outbox on chat_messages");
      await db.end();
    },
  };
}

async function verifyPostgres(databaseUrl, sessionIds, perSession) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query(
      `select session_id, count(*)::int as n, count(distinct seq)::int as distinct_seqs, min(seq)::int as min, max(seq)::int as max
       from chat_messages where session_id = any($1) group by session_id`,
      [sessionIds],
    );
    const rowsTotal = rows.reduce((n, r) => n + r.n, 0);
    const gapFree = rows.length === sessionIds.length && rows.every((r) => r.n === perSession && r.distinct_seqs === r.n && r.min === 1 && r.max === r.n);
    return { rows: rowsTotal, gapFree };
  } finally {
    await db.end();
  }
}

function workerdRssMiB(pgid) {
  const out = execFileSync("ps", ["-o", "rss=,comm=", "-g", String(pgid)], { encoding: "utf8" });
  const kib = out
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter(([, comm]) => comm === "workerd")
    .reduce((n, [rss]) => n + Number(rss), 0);
  return round(kib / 1024, 1);
}

async function scenario6(target, pgid) {
  const before = workerdRssMiB(pgid);
  const perSession = 10;
  const sessions = [];
  for (let i = 0; i < S6_SOCKETS / perSession; i++) sessions.push(await target.session(9000 + i));
  const clients = await openMany(S6_SOCKETS, (i) => sessions[Math.floor(i / perSession)].socket(), 40, (n) => progress(`[6] ${target.name}: ${n}/${S6_SOCKETS} sockets open`));
  // Let every object go idle and hibernate (~10 s locally).
  for (let s = S6_WAIT_SECONDS; s > 0; s--) {
    progress(`[6] ${target.name}: ${S6_SOCKETS} idle sockets, measuring in ${s} s`);
    await sleep(1000);
  }
  const after = workerdRssMiB(pgid);
  await Promise.all(clients.map((c) => c.close()));
  return { sockets: S6_SOCKETS, workerdRssMiB: after, rssBeforeMiB: before, perSocketKiB: round(((after - before) * 1024) / S6_SOCKETS, 1) };
}

function bundleGzipKiB(configArgs) {
  const out = mkdtempSync(join(tmpdir(), "edge-chat-bundle-"));
  try {
    execFileSync(join(ROOT, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", out, ...configArgs], {
      cwd: ROOT,
      stdio: "ignore",
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" },
    });
    const files = readdirSync(out).filter((f) => /\.(m?js|wasm)$/.test(f));
    const raw = files.reduce((n, f) => n + statSync(join(out, f)).size, 0);
    const gz = files.reduce((n, f) => n + gzipSync(readFileSync(join(out, f))).length, 0);
    return { rawKiB: round(raw / 1024, 1), gzipKiB: round(gz / 1024, 1) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** The bench's agents (bench/agent.mjs) in a process of their own; `firstDeltaAt` fills as they report. */
async function benchAgents() {
  const child = spawn(process.execPath, [join(ROOT, "bench", "agent.mjs")], { stdio: ["ignore", "pipe", "inherit"] });
  const firstDeltaAt = new Map(); // turnId → epoch ms (performance.timeOrigin + now) when the first delta left
  let buffered = "";
  const url = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`bench agent exited with ${code}`)));
    child.stdout.on("data", (d) => {
      buffered += d;
      let nl;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const [kind, a, b] = buffered.slice(0, nl).split(" ");
        buffered = buffered.slice(nl + 1);
        if (kind === "url") resolve(a);
        else if (kind === "fd") firstDeltaAt.set(a, Number(b));
      }
    });
  });
  const agent = (path) => ({ url: `${url}${path}`, timeoutMs: 10_000, callbackTimeoutMs: 86_400_000 });
  return {
    url,
    registry: JSON.stringify({ primary: agent("/quiet"), sync: agent("/sync"), stream: agent("/stream") }),
    firstDeltaAt,
    close: () => new Promise((resolve) => {
      child.once("exit", resolve);
      child.kill("SIGTERM");
    }),
  };
}

/** A socket that also resolves on the reply to each of its messages (an outgoing message whose parentId is its message). */
function withReplies(client, { onDelta } = {}) {
  const waiting = new Map(); // message id → resolve
  const early = new Map(); // replies that came before their ack (none expected)
  const previous = client.onMessage;
  client.onMessage = (m) => {
    previous?.(m);
    if (m.direction !== "outgoing" || !m.parentId) return;
    const w = waiting.get(m.parentId);
    if (w) {
      waiting.delete(m.parentId);
      w(performance.now());
    } else early.set(m.parentId, performance.now());
  };
  if (onDelta) client.ws.on("message", (data) => {
    const frame = JSON.parse(data);
    if (frame.type === "delta") onDelta(frame, performance.timeOrigin + performance.now());
  });
  return {
    /** Sends and resolves with {ackAt, replyAt} (performance.now()). */
    async turn(clientId, content) {
      const ack = await client.send(clientId, content);
      const ackAt = performance.now();
      const replyAt = early.get(ack.id) ?? (await new Promise((resolve) => waiting.set(ack.id, resolve)));
      early.delete(ack.id);
      return { ackAt, replyAt };
    },
  };
}

/** Scenario 7 for one target: sync turns, streamed turns' first delta, and turns under the 100 × 2 load. */
async function scenario7For(target, agents) {
  // (a) A sync turn: customer send → the stored reply at the client (the agent answers at once).
  const sync = await target.session(7001, "sync");
  const [c] = await openMany(1, sync.socket);
  const turns = withReplies(c);
  for (let i = 0; i < 20; i++) await turns.turn(`s7w-${i}`, "warm up");
  const turnMs = [];
  for (let i = 0; i < S7_TURNS; i++) {
    const t0 = performance.now();
    const { replyAt } = await turns.turn(`s7s-${i}`, "what is my balance?");
    turnMs.push(replyAt - t0);
    if (i % 50 === 0) progress(`[7] ${target.name}: sync turns ${i}/${S7_TURNS}`);
  }
  await c.close();

  // (b) A streamed reply's first delta at the client, after the agent wrote it (clocks: epoch ms in both processes).
  const stream = await target.session(7002, "stream");
  const firstDelta = [];
  let measuring = false;
  const [sc] = await openMany(1, stream.socket);
  const streamed = withReplies(sc, {
    onDelta: (frame, at) => {
      const emitted = agents.firstDeltaAt.get(frame.turnId);
      if (frame.index !== 0 || emitted === undefined) return;
      agents.firstDeltaAt.delete(frame.turnId);
      if (measuring) firstDelta.push(at - emitted);
    },
  });
  for (let i = 0; i < 20; i++) await streamed.turn(`s7x-${i}`, "warm up");
  measuring = true;
  for (let i = 0; i < S7_TURNS; i++) {
    await streamed.turn(`s7d-${i}`, "what is my balance?");
    // The agent's report comes over a pipe; let it arrive before the next turn.
    await sleep(1);
    if (i % 50 === 0) progress(`[7] ${target.name}: streamed turns ${i}/${S7_TURNS}`);
  }
  await sc.close();

  // (c) 100 sessions × 2 sockets: each socket sends and waits for its reply, S7_PER_SOCKET times.
  const load = async (agentType, withTurns) => {
    const sessions = [];
    for (let i = 0; i < S2_SESSIONS; i++) sessions.push(await target.session(7100 + i, agentType));
    const clients = await openMany(S2_SESSIONS * 2, (i) => sessions[i >> 1].socket(), 40, (n) => progress(`[7] ${target.name}: ${n}/${S2_SESSIONS * 2} sockets open`));
    const drivers = clients.map((cl) => withReplies(cl));
    const started = performance.now();
    await Promise.all(
      clients.map(async (cl, i) => {
        for (let k = 0; k < S7_PER_SOCKET; k++) {
          if (withTurns) await drivers[i].turn(`s7c-${i}-${k}`, `message ${k}`);
          else await cl.send(`s7c-${i}-${k}`, `message ${k}`);
        }
      }),
    );
    const ms = performance.now() - started;
    await Promise.all(clients.map((cl) => cl.close()));
    return round((clients.length * S7_PER_SOCKET) / (ms / 1000), 0);
  };
  return {
    syncTurnMs: summary(turnMs),
    firstDeltaMs: summary(firstDelta),
    turnsPerSecond: await load("sync", true),
    // The same load without replies: on the product, sessions whose (quiet) agent never answers.
    plainMessagesPerSecond: await load("primary", false),
  };
}

async function scenario7(product, reference, agents) {
  const ours = await scenario7For(product, agents);
  const ref = await scenario7For(reference, agents);
  return { ours: { ...ours, addedP50Ms: round(ours.syncTurnMs.p50 - ref.syncTurnMs.p50) }, reference: ref };
}

// ---- main ------------------------------------------------------------------------------------

async function main() {
  const startedAt = new Date();
  progress("starting PostgreSQL database, proxy and both Workers", true);
  const databaseUrl = await benchDatabase();
  await migratePostgres(databaseUrl);
  const db = await proxyProcess();
  const state = mkdtempSync(join(tmpdir(), "edge-chat-bench-"));
  const agents = await benchAgents();
  const ours = await startWorker({
    port: await freePort(),
    databaseUrl,
    proxyUrl: db.proxyUrl,
    jwtSecret: JWT_SECRET,
    vars: { ...BENCH_VARS, AGENTS: agents.registry, ...JSON.parse(process.env.BENCH_VARS ?? "{}") },
    persistTo: join(state, "ours"),
    stdio: process.env.BENCH_LOGS ? "inherit" : "ignore",
  });
  const ref = await startWorker({
    port: await freePort(),
    config: join(ROOT, "bench", "reference", "wrangler.toml"),
    persistTo: join(state, "reference"),
    stdio: process.env.BENCH_LOGS ? "inherit" : "ignore",
  });
  const product = productTarget(ours.url);
  const reference = referenceTarget(ref.url, agents.url);
  const results = {
    startedAt: startedAt.toISOString(),
    commit: gitCommit(),
    machine: machine(),
    settings: { N1, S2_SESSIONS, S2_PER_SOCKET, S3_SOCKETS, S3_MESSAGES, S4_MESSAGES, S4_READS, S6_SOCKETS, S7_TURNS, S7_PER_SOCKET, ROUNDS, only: process.env.BENCH_ONLY ?? null, vars: process.env.BENCH_VARS ?? null },
    scenarios: {},
  };
  try {
    if (runs(1)) results.scenarios.sequential = await scenario1(product, reference);

    if (runs(2) || runs(5)) {
      const outbox = await listenOutbox(databaseUrl);
      const { ours: ours2, reference: ref2, sessionIds } = await scenario2(product, reference, outbox.onAck);
      for (let i = 0; i < 100 && outbox.unseen() > 0; i++) await sleep(100);
      const pgCheck = await verifyPostgres(databaseUrl, sessionIds, Math.ceil(S2_PER_SOCKET / ROUNDS) * ROUNDS * 2);
      await outbox.close();
      results.scenarios.concurrent = { ours: ours2, reference: ref2 };
      results.scenarios.outbox = {
        ours: { lagMs: summary(outbox.lags), acks: ours2.acks, rowsInPostgres: pgCheck.rows, missing: outbox.unseen(), gapFree: pgCheck.gapFree },
      };
    }

    if (runs(3)) results.scenarios.fanout = { ours: await scenario3(product), reference: await scenario3(reference) };

    if (runs(4)) {
      progress(`[4] seeding a session with ${S4_MESSAGES.toLocaleString("en-US")} messages`, true);
      const history = await seedHistory(databaseUrl);
      results.scenarios.history = await scenario4(ours.url, databaseUrl, history);
    }

    if (runs(6)) results.scenarios.footprint = {
      ours: { ...(await scenario6(product, ours.pid)), bundle: bundleGzipKiB([]) },
      reference: { ...(await scenario6(reference, ref.pid)), bundle: bundleGzipKiB(["--config", join(ROOT, "bench", "reference", "wrangler.toml")]) },
    };

    if (runs(7)) results.scenarios.agents = await scenario7(product, reference, agents);
  } finally {
    progressDone();
    await agents.close();
    await ours.stop();
    await ref.stop();
    await db.stop();
    rmSync(state, { recursive: true, force: true });
  }
  results.finishedAt = new Date().toISOString();

  const dir = join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const table = renderTable(results);
  writeFileSync(join(dir, `${stamp}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(dir, "latest.json"), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(dir, "latest.md"), table);
  writeFileSync(join(dir, "latest.svg"), renderChart(results));
  updateReadme(join(ROOT, "README.md"), table);
  console.log(table);
  console.log(`results: bench/results/${stamp}.json, latest.{json,md,svg}; README updated`);
}

function gitCommit() {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    return null;
  }
}

function machine() {
  const cpus = execFileSync("nproc", { encoding: "utf8" }).trim();
  return { node: process.version, cpus: Number(cpus), platform: process.platform };
}

main().then(
  () => process.exit(0),
  (err) => {
    progressDone();
    console.error(err);
    process.exit(1);
  },
);
