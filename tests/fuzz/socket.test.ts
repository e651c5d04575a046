// Fuzzes the session socket: upgrades with odd ids, odd `since` and bad tokens, and every client frame (valid, malformed, oversized, binary).
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import ws from "ws";
import { clientFrameSchema, PING_FRAME } from "../../worker/protocol";
import { api, baseUrl } from "../helpers";
import {
  Raw,
  Ref,
  brokenJson,
  deepObject,
  extras,
  field,
  hostileNumber,
  hostileString,
  jsonValue,
  longString,
  oddMetadata,
  pct,
  sessionRef,
  spellings,
  strangerId,
  text,
  toJson,
  validMetadata,
  validText,
  wrongType,
} from "./arbitraries";
import { canonical, checkAnswer, send, type Wire } from "./http-client";
import { Ledger, checkSessionsAlive, report } from "./ledger";
import { asStored } from "./procedures";
import { FuzzFailure, Tally, clip, fuzz, genericIds, runs } from "./runner";
import { Auth, bearer, createWorld, type World } from "./world";

/** Longest wait for an answer to a frame, or for an upgrade. */
const FRAME_TIMEOUT_MS = 10_000;
/** Sent after every fuzzed frame: not the runtime's auto-answered ping text, so the object itself answers it, in order. */
const SENTINEL = '{ "type": "ping" }';
const ERROR_CODES = ["BAD_FRAME", "PAYLOAD_TOO_LARGE", "RATE_LIMITED", "SESSION_CLOSED", "FORBIDDEN", "NOT_FOUND", "CONFLICT", "INTERNAL"];

type Frame = { type: string; [key: string]: unknown };

/** A raw WebSocket that records every frame the server sends. */
class Live {
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: (() => void)[] = [];

  constructor(
    readonly socket: ws,
    readonly label: string,
  ) {
    socket.on("message", (data, isBinary) => {
      let frame: Frame;
      try {
        frame = JSON.parse(String(data)) as Frame;
      } catch {
        frame = { type: "<not JSON>", raw: String(data), binary: isBinary };
      }
      this.frames.push(frame);
      this.wake();
    });
    // Failures show up as a close (or a missing answer); an unhandled 'error' event would crash the worker.
    socket.on("error", () => {});
    socket.on("close", (code, reason) => {
      this.closed = { code, reason: String(reason) };
      this.wake();
    });
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  count(type: string) {
    return this.frames.filter((f) => f.type === type).length;
  }

  /** Waits until `predicate` holds; a timeout or a closed socket is a FuzzFailure. */
  async until<T>(predicate: () => T | undefined | false, what: string, detail: () => string): Promise<T> {
    const deadline = Date.now() + FRAME_TIMEOUT_MS;
    for (;;) {
      const result = predicate();
      if (result) return result;
      if (this.closed) throw new FuzzFailure(`socket: closed (${this.closed.code}) while waiting for ${what}`, `${this.label}\n${detail()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new FuzzFailure(`socket: no ${what} within ${FRAME_TIMEOUT_MS / 1000} s`, `${this.label}\n${detail()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }
}

type Opened = { live: Live } | { refused: { status: number; contentType: string; text: string } } | { noProtocol: true };

/** Opens a socket to `path` (with query), offering `protocols`; resolves opened or refused, rejects on anything else. */
function open(path: string, protocols: string[], label: string): Promise<Opened> {
  const url = `${baseUrl().replace(/^http/, "ws")}${path}`;
  return new Promise<Opened>((resolve, reject) => {
    const fail = (why: string) => reject(new FuzzFailure(`upgrade: ${why}`, `GET ${clip(path, 300)} protocols ${clip(JSON.stringify(protocols), 200)}`));
    let socket: ws;
    try {
      socket = new ws(url, protocols, { handshakeTimeout: FRAME_TIMEOUT_MS });
    } catch (err) {
      return fail(`client could not even build the request (${(err as Error).message})`);
    }
    const live = new Live(socket, label);
    socket.once("open", () => resolve({ live }));
    socket.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c));
      res.on("end", () => resolve({ refused: { status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), text: body } }));
    });
    socket.once("error", (err) => {
      // Offered only `bearer.<jwt>`, the server (rightly) echoes none, and RFC 6455 has the client give up.
      if (err.message === "Server sent no subprotocol") resolve({ noProtocol: true });
      else fail(`no answer (${err.message})`);
    });
  });
}

/** A socket used by the frame fuzz: who holds it, and which session it reaches. */
interface Pooled {
  live: Live;
  /** The session the server resolved it to (from `ready`). */
  sessionId: string;
  /** Owners may write; an admin only watches. */
  writer: boolean;
}

let world: World;
const ledger = new Ledger();
const tally = new Tally("socket");
const pool: Pooled[] = [];

async function poolSocket(sessionSegment: string, auth: Auth, via: "query" | "protocol", writer: boolean, label: string) {
  const query = via === "query" ? `?token=${pct(auth.token!)}` : "";
  const protocols = via === "protocol" ? ["edge-chat", `bearer.${auth.token}`] : [];
  const opened = await open(`/api/sessions/${sessionSegment}/ws${query}`, protocols, label);
  if (!("live" in opened)) return opened;
  const ready = await opened.live.until(() => opened.live.frames.find((f) => f.type === "ready"), "ready frame", () => label);
  pool.push({ live: opened.live, sessionId: ready.sessionId as string, writer });
  return null;
}

beforeAll(async () => {
  world = await createWorld("s");
  const [a1, a2, a3] = world.sessions.a as [string, string, string];
  const [b1] = world.sessions.b as [string];
  // One ended session, for upgrades that must be refused with 409.
  const ended = await api("DELETE", `/sessions/${world.sessions.doomed[0]}`, { token: world.ender.token });
  expect(ended.status).toBe(200);
  await poolSocket(a1, bearer(world.a, "a"), "query", true, "a on a1 (query token)");
  await poolSocket(a1, bearer(world.a, "a"), "protocol", true, "a on a1 (subprotocol token)");
  await poolSocket(a2, bearer(world.a, "a"), "query", true, "a on a2");
  await poolSocket(b1, bearer(world.b, "b"), "query", true, "b on b1");
  await poolSocket(a1, bearer(world.admin, "admin"), "query", false, "admin watching a1");
  // An odd spelling the server may accept: if it does, what it acks must still be one session's history.
  await poolSocket(a3.toUpperCase(), bearer(world.a, "a"), "query", true, "a on UPPER(a3)");
}, 60_000);

afterAll(() => {
  for (const p of pool) p.live.socket.terminate();
  console.log(tally.summary());
});

// ---- frames ---------------------------------------------------------------------------------------

/** A generated frame: text or bytes, and whether it is valid by construction (a control). */
class FrameCase {
  constructor(
    readonly data: string | Buffer,
    readonly label: string,
    readonly control = false,
  ) {}
  [fc.toStringMethod]() {
    return this.label;
  }
}

const frameOf = (v: unknown, control = false) => {
  const data = toJson(v);
  return new FrameCase(data, control ? `control ${clip(data, 200)}` : fc.stringify(v).slice(0, 300), control);
};

/** The fields of a valid send frame (a fresh clientId each time). */
const validSend = fc.record({
  clientId: fc.uuid().map((u) => `ctl-${u}`),
  content: validText(120),
  messageType: fc.option(fc.constantFrom("text", "note"), { nil: undefined }),
  metadata: fc.option(validMetadata, { nil: undefined }),
});

/** What each field of a send frame can be instead. */
const hostileSendField: Record<string, fc.Arbitrary<unknown>> = {
  clientId: fc.oneof(fc.constantFrom("c-1", "c-2", "dup"), hostileString, wrongType, fc.constant("x".repeat(129))),
  content: fc.oneof(hostileString, wrongType),
  messageType: fc.oneof(hostileString, wrongType),
  metadata: fc.oneof(oddMetadata, wrongType, deepObject, deepObject, longString.map((s) => new Raw(`{"big":${s.text}}`, `{big: ${s.label}}`))),
};

const controlFrame: fc.Arbitrary<FrameCase> = fc.oneof(
  { weight: 5, arbitrary: validSend.map((f) => frameOf({ type: "send", ...f }, true)) },
  { weight: 1, arbitrary: fc.boolean().map((isTyping) => frameOf({ type: "typing", isTyping }, true)) },
  { weight: 1, arbitrary: fc.nat(1_000).map((seq) => frameOf({ type: "read", seq }, true)) },
  { weight: 1, arbitrary: fc.constant(new FrameCase(PING_FRAME, "ping (exact)", true)) },
  // Stops the turn that runs (a quiet agent's, waiting for a callback) or a given one; nothing to stop is NOT_FOUND.
  { weight: 1, arbitrary: fc.option(fc.uuid({ version: 4 }), { nil: undefined }).map((turnId) => frameOf({ type: "cancel", turnId }, true)) },
);

const hostileFrame: fc.Arbitrary<FrameCase> = fc.oneof(
  {
    // A valid send with one field made hostile (or left out), so the value reaches the checks behind the schema.
    weight: 6,
    arbitrary: fc
      .tuple(validSend, fc.constantFrom(...Object.keys(hostileSendField)))
      .chain(([f, key]) =>
        fc
          .oneof({ weight: 5, arbitrary: hostileSendField[key]! }, { weight: 1, arbitrary: fc.constant(undefined) })
          .map((v) => frameOf({ type: "send", ...f, [key]: v })),
      ),
  },
  {
    // Several at once, with unknown members.
    weight: 2,
    arbitrary: fc
      .record({
        clientId: field(fc.oneof(fc.uuid(), fc.constantFrom("c-1", "c-2", "dup")), hostileSendField.clientId!),
        content: field(validText(80), hostileSendField.content!),
        messageType: field(fc.constantFrom("text", "note"), hostileSendField.messageType!),
        metadata: field(validMetadata, hostileSendField.metadata!, [3, 5, 2]),
        more: extras,
      })
      .map(({ more, ...f }) => frameOf({ ...more, type: "send", ...f })),
  },
  { weight: 1, arbitrary: fc.tuple(field(fc.boolean(), wrongType), extras).map(([isTyping, more]) => frameOf({ ...more, type: "typing", isTyping })) },
  { weight: 1, arbitrary: fc.tuple(field(fc.uuid(), fc.oneof(hostileString, wrongType)), extras).map(([turnId, more]) => frameOf({ ...more, type: "cancel", turnId })) },
  { weight: 2, arbitrary: fc.tuple(field(fc.nat(), hostileNumber), extras).map(([seq, more]) => frameOf({ ...more, type: "read", seq })) },
  { weight: 1, arbitrary: fc.constantFrom(new FrameCase('{"type":"ping","x":1}', "ping with extra"), new FrameCase(' {"type":"ping"}', "ping with space"), new FrameCase('{"type":"pong"}', "pong")) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.oneof(fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "SEND", "send ", "", "ack", "error", "ready", "message"), wrongType), extras)
      .map(([type, more]) => frameOf({ ...more, type, clientId: "odd-type", content: "x" })),
  },
  { weight: 2, arbitrary: brokenJson.map((r) => new FrameCase(r.text, r.label)) },
  { weight: 1, arbitrary: text(40).map((s) => new FrameCase(s, `text ${JSON.stringify(s)}`)) },
  { weight: 1, arbitrary: fc.oneof(jsonValue, wrongType).map((v) => new FrameCase(toJson(v), `json ${fc.stringify(v).slice(0, 100)}`)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(65_000, 65_536, 65_537, 70_000, 200_000).map((n) => {
      const head = '{"type":"send","clientId":"big","content":"';
      return new FrameCase(`${head}${"a".repeat(Math.max(1, n - head.length - 2))}"}`, `send frame of ${n} bytes`);
    }),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => new FrameCase(Buffer.from(b), `binary ${b.length} bytes`)) },
  { weight: 1, arbitrary: fc.constant(new FrameCase(Buffer.from(PING_FRAME), "ping as binary")) },
);

const frameArb = fc.oneof({ weight: 1, arbitrary: controlFrame }, { weight: 3, arbitrary: hostileFrame });

/**
 * What the server makes of a frame, judged by the shared protocol schema (and the size limit).
 * "unknown": the schema's own checks overflow this worker's stack (metadata nested thousands deep).
 */
function oracle(f: FrameCase): { valid: true; frame: Record<string, unknown> } | { valid: false } | { valid: "unknown"; frame: unknown } {
  if (typeof f.data !== "string" || f.data.length > 64 * 1024) return { valid: false };
  let raw: unknown;
  try {
    raw = JSON.parse(f.data);
  } catch {
    return { valid: false };
  }
  try {
    return clientFrameSchema.safeParse(raw).success ? { valid: true, frame: raw as Record<string, unknown> } : { valid: false };
  } catch (err) {
    if (err instanceof RangeError) return { valid: "unknown", frame: raw };
    throw err;
  }
}

/** Sends one frame and its sentinel, and checks the answer: the expected one, or an error frame that says why. */
async function sendFrame(p: Pooled, f: FrameCase) {
  const { live } = p;
  const start = live.frames.length;
  const judged = oracle(f);
  const type = judged.valid === true ? String(judged.frame.type) : null;
  const pongs = live.count("pong") + 1 + (type === "ping" ? 1 : 0);
  const detail = () => `frame: ${f.label}\nanswers: ${clip(live.frames.slice(start).map((x) => canonical(x)).join(" "), 600)}`;
  live.socket.send(f.data, { binary: typeof f.data !== "string" });
  live.socket.send(SENTINEL);
  await live.until(() => live.count("pong") >= pongs, "pong after the frame", detail);

  // A send names its clientId in its ack or error (a frame of unknown validity too, if it has one).
  const unknownSend = judged.valid === "unknown" ? (judged.frame as { type?: unknown; clientId?: unknown } | null) : null;
  const named = unknownSend?.type === "send" ? unknownSend.clientId : null;
  const clientId = type === "send" ? (judged.valid === true ? (judged.frame.clientId as string) : null) : typeof named === "string" && named !== "" ? named : null;
  if (clientId !== null) {
    // The answer to a send names its clientId (it may trail the sentinel when the object had to wait).
    await live.until(() => live.frames.slice(start).some((x) => (x.type === "ack" || x.type === "error") && x.clientId === clientId), "ack or error for the send", detail);
  }
  const answers = live.frames.slice(start);
  const answer = clientId === null ? undefined : answers.find((x) => (x.type === "ack" || x.type === "error") && x.clientId === clientId);
  // Recorded before anything is judged: a failure below must not hide an acknowledgement from the final check.
  if (answer?.type === "ack") {
    const sent = (judged.valid === false ? {} : judged.frame) as Record<string, unknown>;
    ledger.add({
      sessionId: p.sessionId,
      seq: answer.seq as number,
      id: answer.id as string,
      // A repeated clientId is answered with the first message, whose content this frame may not have.
      ...(answer.duplicate !== true ? asStored(sent.content as string, (sent.metadata as Record<string, unknown> | undefined) ?? {}) : {}),
      request: `socket (${p.live.label}) ${clip(f.label, 200)}`,
    });
  }
  for (const e of answers.filter((x) => x.type === "error")) {
    if (!ERROR_CODES.includes(e.code as string) || typeof e.message !== "string" || e.message.trim() === "") {
      throw new FuzzFailure("socket: error frame without a known code and a message", detail());
    }
    if (e.code === "INTERNAL") throw new FuzzFailure(`socket: INTERNAL error frame (${genericIds(String(e.message))})`, detail());
  }
  if (answers.some((x) => x.type === "<not JSON>")) throw new FuzzFailure("socket: server sent a frame that is not JSON", detail());
  if (live.closed) throw new FuzzFailure(`socket: closed (${live.closed.code}) after a frame`, detail());

  if (judged.valid === false) {
    if (!answers.some((x) => x.type === "error")) throw new FuzzFailure("socket: invalid frame got no error frame", detail());
    return;
  }
  if (type === "typing" || type === "read") {
    if (answers.some((x) => x.type === "error")) throw new FuzzFailure(`socket: valid ${type} frame refused`, detail());
    return;
  }
  if (type === "cancel") {
    // Nothing to stop, or already finished, is said so; anything else is wrong.
    const refused = answers.find((x) => x.type === "error" && x.code !== "NOT_FOUND" && x.code !== "CONFLICT");
    if (refused) throw new FuzzFailure(`socket: valid cancel frame refused with ${String(refused.code)}`, detail());
    return;
  }
  if (!answer) return;
  if (answer.type === "ack" && !p.writer) throw new FuzzFailure("socket: an admin's send was stored", detail());
  if (answer.type === "error" && f.control && p.writer) throw new FuzzFailure(`socket: valid send refused with ${String(answer.code)}`, detail());
}

// ---- upgrades -------------------------------------------------------------------------------------

interface Upgrade {
  ref: Ref;
  auth: Auth;
  via: "query" | "protocol" | "both" | "none" | "protocol-only-bearer";
  since: string | undefined;
  extraQuery: string;
  upgrade: boolean;
}

function upgradeArb(): fc.Arbitrary<Upgrade> {
  const { a, b, admin, sessions, badTokens } = world;
  const ref = fc.oneof(
    { weight: 6, arbitrary: sessionRef(sessions.a, sessions.b) },
    { weight: 1, arbitrary: fc.constantFrom(...sessions.doomed).map((id) => new Ref(id, id, `doomed(${id.slice(0, 8)})`, id)) },
    { weight: 1, arbitrary: fc.constantFrom(...sessions.a).chain(spellings) },
    { weight: 1, arbitrary: strangerId },
  );
  const auth = fc.oneof(
    { weight: 6, arbitrary: fc.constant(bearer(a, "a")) },
    { weight: 2, arbitrary: fc.constantFrom(bearer(b, "b"), bearer(admin, "admin"), bearer(world.ender, "erin")) },
    { weight: 2, arbitrary: fc.constantFrom(...badTokens) },
    { weight: 1, arbitrary: fc.constantFrom(new Auth(undefined, "", "empty"), new Auth(undefined, " ", "space"), new Auth(undefined, `${a.token} `, "trailing-space")) },
    { weight: 1, arbitrary: text(30).map((s) => new Auth(undefined, s, `text(${JSON.stringify(s)})`)) },
  );
  const since = fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 3, arbitrary: fc.nat(300).map(String) },
    { weight: 2, arbitrary: hostileNumber.map((v) => (v instanceof Raw ? v.text : typeof v === "string" ? v : String(v))) },
    { weight: 1, arbitrary: text(10) },
  );
  return fc.record({
    ref,
    auth,
    via: fc.oneof({ weight: 6, arbitrary: fc.constant("query" as const) }, { weight: 3, arbitrary: fc.constant("protocol" as const) }, { weight: 1, arbitrary: fc.constantFrom("both" as const, "none" as const, "protocol-only-bearer" as const) }),
    since,
    extraQuery: fc.oneof({ weight: 8, arbitrary: fc.constant("") }, { weight: 1, arbitrary: fc.constantFrom("&since=1&since=2", "&token=", "&__proto__=1", "&%zz", "&token=x&token=y") }),
    upgrade: fc.oneof({ weight: 12, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  });
}

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Tries one upgrade and checks the outcome: a live socket that says `ready` (and catches up right), or a 4xx with a JSON body. */
async function tryUpgrade(u: Upgrade) {
  const token = u.auth.token ?? "";
  // A subprotocol must be a token (RFC 6455); anything else can only travel in the query.
  const asProtocol = (u.via === "protocol" || u.via === "both" || u.via === "protocol-only-bearer") && TCHAR.test(`bearer.${token}`);
  const inQuery = u.via === "query" || u.via === "both" || (u.via !== "none" && !asProtocol);
  const params = [inQuery ? `token=${pct(token)}` : "", u.since !== undefined ? `since=${pct(u.since)}` : ""].filter(Boolean).join("&") + u.extraQuery;
  const path = `/api/sessions/${u.ref.segment}/ws${params ? `?${params.replace(/^&/, "")}` : ""}`;
  if (!u.upgrade) {
    const w: Wire = { method: "GET", path, headers: {} };
    checkAnswer("ws route without upgrade", w, await send(baseUrl(), w, "ws route without upgrade"), "rest", false);
    return;
  }
  const protocols = asProtocol ? (u.via === "protocol-only-bearer" ? [`bearer.${token}`] : ["edge-chat", `bearer.${token}`]) : [];
  const opened = await open(path, protocols, `upgrade ${u.ref.label} as ${u.auth.label}`);
  const where = `GET ${clip(path, 300)} protocols ${clip(JSON.stringify(protocols), 120)}`;
  if ("noProtocol" in opened) {
    if (protocols.includes("edge-chat")) throw new FuzzFailure("upgrade: edge-chat subprotocol not echoed", where);
    return;
  }
  if ("refused" in opened) {
    const r = opened.refused;
    let json: unknown;
    try {
      json = JSON.parse(r.text);
    } catch {}
    checkAnswer("upgrade", { method: "GET", path, headers: {} }, { status: r.status, contentType: r.contentType, text: r.text, json }, "rest", false);
    return;
  }
  const { live } = opened;
  try {
    const ready = await live.until(() => live.frames.find((f) => f.type === "ready"), "ready frame after the upgrade", () => where);
    if (typeof ready.sessionId !== "string" || !Number.isInteger(ready.lastSeq) || (ready.lastSeq as number) < 0) {
      throw new FuzzFailure("upgrade: malformed ready frame", `${where}\n${canonical(ready)}`);
    }
    if (protocols.includes("edge-chat") && live.socket.protocol !== "edge-chat") throw new FuzzFailure("upgrade: edge-chat subprotocol not echoed", where);
    checkCatchUp(u.since, live, ready, where);
  } finally {
    live.socket.close(1000);
  }
}

/** With `since=<n>`, what precedes `ready` is exactly the missed messages in order, or one resync. */
function checkCatchUp(since: string | undefined, live: Live, ready: Frame, where: string) {
  if (since === undefined || !/^(0|[1-9][0-9]{0,12})$/.test(since)) return;
  const n = Number(since);
  const lastSeq = ready.lastSeq as number;
  const before = live.frames.slice(0, live.frames.indexOf(ready)).filter((f) => f.type !== "presence");
  const resynced = before.length === 1 && before[0]!.type === "resync" && before[0]!.fromSeq === n + 1 && before[0]!.lastSeq === lastSeq;
  const seqs = before.map((f) => (f.type === "message" ? (f.message as { seq: number }).seq : -1));
  const expected = Array.from({ length: Math.max(0, lastSeq - n) }, (_, i) => n + 1 + i);
  if (!resynced && canonical(seqs) !== canonical(expected)) {
    throw new FuzzFailure("upgrade: catch-up is neither the missed messages in order nor a resync", `${where}\nsince ${n}, lastSeq ${lastSeq}, got ${clip(before.map((f) => f.type === "message" ? `message ${(f.message as { seq: number }).seq}` : canonical(f)).join(", "), 300)}`);
  }
}

// ---- the properties -------------------------------------------------------------------------------

describe("socket fuzz", () => {
  it("upgrades: a live socket that says ready and catches up right, or a 4xx with a JSON body", async () => {
    await fuzz(fc.array(upgradeArb(), { minLength: 1, maxLength: 4 }), runs(150), async (ups) => {
      tally.add("upgrades", ups.length);
      await Promise.all(ups.map(tryUpgrade));
    });
  }, 300_000);

  it("frames: each gets its answer or an error frame with a code and message, and the socket stays open", async () => {
    // Up to three sockets at once, each sending its frames one by one (so answers can be told apart).
    const group = fc.record({ socket: fc.nat(pool.length - 1), frames: fc.array(frameArb, { minLength: 1, maxLength: 8 }) });
    const arb = fc.uniqueArray(group, { minLength: 1, maxLength: 3, selector: (g) => g.socket });
    await fuzz(arb, runs(650), async (groups) => {
      await Promise.all(
        groups.map(async ({ socket, frames }) => {
          tally.add("frames", frames.length);
          for (const f of frames) await sendFrame(pool[socket]!, f);
        }),
      );
    });
  }, 300_000);

  it("after the run: every socket is open and still takes a message; the watcher saw every message in order", async () => {
    const problems: string[] = [];
    for (const p of pool) {
      if (p.live.closed) {
        problems.push(`socket closed: ${p.live.label} (${p.live.closed.code} ${p.live.closed.reason})`);
        continue;
      }
      try {
        await sendFrame(p, new FrameCase(JSON.stringify({ type: "send", clientId: `final-${Math.random()}`, content: "still here" }), "final send", true));
      } catch (err) {
        problems.push(`socket no longer takes messages: ${p.live.label}: ${(err as Error).message.split("\n")[0]}`);
      }
    }
    // The admin watching a1 receives every message of a1, each once, in seq order.
    const watcher = pool.find((p) => !p.writer)!;
    const seen = watcher.live.frames.filter((f) => f.type === "message").map((f) => f.message as { seq: number; id: string });
    for (let i = 1; i < seen.length; i++) {
      if (seen[i]!.seq !== seen[i - 1]!.seq + 1) {
        problems.push(`watcher order: message seq ${seen[i]!.seq} after ${seen[i - 1]!.seq}`);
        break;
      }
    }
    const acked = pool.filter((p) => p.writer && p.sessionId === watcher.sessionId).flatMap((p) => p.live.frames.filter((f) => f.type === "ack"));
    const byId = new Map(seen.map((m) => [m.seq, m.id]));
    for (const a of acked) {
      if (byId.get(a.seq as number) !== a.id) problems.push(`watcher missed an ack'd message: seq ${a.seq as number} id ${a.id as string} (saw ${byId.get(a.seq as number) ?? "nothing"})`);
    }
    if (problems.length > 0) throw new Error(report("socket fuzz sockets", problems));
  }, 120_000);

  it("every acknowledged message is readable at its seq and in Postgres; every session still works", async () => {
    const problems = await checkSessionsAlive(world, ledger);
    problems.push(...(await ledger.verify(world.admin)));
    console.log(`fuzz: socket checked ${ledger.size} acknowledged messages`);
    if (problems.length > 0) throw new Error(report("socket fuzz durability", problems));
  }, 120_000);
});
