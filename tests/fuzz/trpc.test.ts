// Fuzzes the tRPC endpoint: every procedure's input as a single call and in ?batch=1 form, wrong methods, content types and procedure paths.
import fc from "fast-check";
import { afterAll, beforeAll, describe, it } from "vitest";
import { baseUrl } from "../helpers";
import { Raw, Ref, brokenJson, contentType, hostileKey, multipart, pct, text, toJson, wrongType } from "./arbitraries";
import { MAX_URL, checkAnswer, checkBatchItem, checkEcho, send, type Answer, type Wire } from "./http-client";
import { Ledger, checkSessionsAlive, report } from "./ledger";
import { ClientIds, PROCEDURES, callArb, clientIdKey, expectedEcho, withRepeats, type Call, type ProcedureName } from "./procedures";
import { FuzzFailure, Tally, fuzz, runs } from "./runner";
import { createWorld, type World } from "./world";

/** How a tRPC request travels, beyond its calls. */
interface Transport {
  /** "right": GET for queries, POST for mutations. */
  method: "right" | "GET" | "POST" | "PUT" | "PATCH";
  contentType: string | undefined;
  /** How the input is carried: as JSON, left out, or as text that is not JSON. */
  input: "json" | "missing" | "broken";
  broken: Raw;
  extraQuery: string;
  oversize: boolean;
}

const clean: Transport = { method: "right", contentType: "application/json", input: "json", broken: new Raw(""), extraQuery: "", oversize: false };

const transport: fc.Arbitrary<Transport> = fc.record({
  method: fc.oneof({ weight: 12, arbitrary: fc.constant("right" as const) }, { weight: 2, arbitrary: fc.constantFrom("GET" as const, "POST" as const, "PUT" as const, "PATCH" as const) }),
  contentType,
  input: fc.oneof({ weight: 12, arbitrary: fc.constant("json" as const) }, { weight: 2, arbitrary: fc.constantFrom("missing" as const, "broken" as const) }),
  broken: brokenJson,
  extraQuery: fc.oneof(
    { weight: 10, arbitrary: fc.constant("") },
    { weight: 2, arbitrary: fc.constantFrom("&input=1", "&batch=1", "&batch=0", "&__proto__=1", "&input", "&%zz", "&input[0]=1") },
    { weight: 1, arbitrary: fc.tuple(hostileKey, text(8)).map(([k, v]) => `&${pct(k)}=${pct(v)}`) },
  ),
  oversize: fc.oneof({ weight: 40, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

/** A request to /trpc: one call, or a batch of calls. */
interface Request {
  calls: Call[];
  batch: boolean;
  /** For batches: how the {"0": …} input is spelled. */
  batchForm: "object" | "array" | "gaps" | "odd-keys";
  t: Transport;
}

/** The JSON text of one call's input. */
const inputText = (call: Call) => (call.input instanceof Raw ? call.input.text : toJson(call.input));

function batchInput(req: Request): string {
  const texts = req.calls.map(inputText);
  switch (req.batchForm) {
    case "array":
      return `[${texts.join(",")}]`;
    case "gaps":
      return `{${texts.map((t, i) => `"${i * 2}":${t}`).join(",")}}`;
    case "odd-keys":
      return `{${texts.map((t, i) => `${JSON.stringify(["00", "-1", "__proto__", "constructor", "1.0", " 0"][i % 6])}:${t}`).join(",")}}`;
    default:
      return `{${texts.map((t, i) => `"${i}":${t}`).join(",")}}`;
  }
}

/** Puts a request on the wire. */
function trpcWire(req: Request): Wire {
  const { t } = req;
  const kind = PROCEDURES[req.calls[0]!.procedure].kind;
  const method = t.method === "right" ? (kind === "query" ? "GET" : "POST") : t.method;
  const names = req.calls.map((c) => c.procedure).join(",");
  const input = t.input === "broken" ? t.broken.text : req.batch ? batchInput(req) : inputText(req.calls[0]!);
  const query: string[] = [];
  if (req.batch) query.push("batch=1");
  const headers: Record<string, string> = {};
  const auth = req.calls[0]!.auth;
  if (auth.header !== undefined) headers.authorization = auth.header;
  let body: string | undefined;
  if (method === "GET") {
    if (t.input !== "missing") query.push(`input=${pct(input)}`);
  } else {
    body = t.input === "missing" ? "" : input;
    if (t.contentType?.startsWith("multipart/form-data; boundary=fz")) body = multipart(body);
    if (t.oversize) body += " ".repeat(270 * 1024);
    if (t.contentType !== undefined) headers["content-type"] = t.contentType;
  }
  const qs = query.join("&") + t.extraQuery;
  return { method, path: `/trpc/${names}${qs ? `?${qs.replace(/^&/, "")}` : ""}`, headers, ...(body !== undefined ? { body } : {}) };
}

/** A request in its plainest form: one right method, JSON input that parses, nothing extra. */
function isClean(req: Request) {
  if (req.t !== clean || (req.batch && req.batchForm !== "object")) return false;
  // A batch is one JSON document: one broken call input spoils it for all its calls, and one huge
  // one puts the whole body over the limit (413 before tRPC sees it).
  const input = req.batch ? batchInput(req) : inputText(req.calls[0]!);
  if (Buffer.byteLength(input) > MAX_BODY_BYTES) return false;
  try {
    JSON.parse(input);
    return true;
  } catch {
    return false;
  }
}

/** The Worker's body limit (MAX_BODY_BYTES, default 256 KiB). */
const MAX_BODY_BYTES = 256 * 1024;

let world: World;
const ledger = new Ledger();
const clientIds = new ClientIds();
const tally = new Tally("trpc");

beforeAll(async () => {
  world = await createWorld("t");
}, 60_000);

afterAll(() => {
  console.log(tally.summary());
});

/** Records a successful send (any item that is a message, whichever call it answers). */
function record(data: unknown, request: string) {
  const m = data as { id?: unknown; seq?: unknown; sessionId?: unknown; content?: unknown; metadata?: unknown } | undefined;
  if (typeof m?.id !== "string" || typeof m.seq !== "number" || typeof m.sessionId !== "string" || typeof m.content !== "string") return;
  ledger.add({ sessionId: m.sessionId, seq: m.seq, id: m.id, content: m.content, metadata: m.metadata, request });
}

/** Each successful call of an answer: its index among the request's calls (when known) and its data. */
function successes(req: Request, a: Answer): { index: number | null; data: unknown }[] {
  if (!req.batch) return a.status === 200 && isRecord(a.json) && isRecord(a.json.result) ? [{ index: 0, data: a.json.result.data }] : [];
  if (!Array.isArray(a.json)) return [];
  // Items map to calls only when the input was the plain {"0": …} object.
  const mapped = req.batchForm === "object";
  return a.json.flatMap((item, i) => (isRecord(item) && isRecord(item.result) ? [{ index: mapped ? i : null, data: item.result.data }] : []));
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A call's success must be about the session it names, and echo what was sent (when it was sent as JSON). */
function afterCall(call: Call, w: Wire, data: unknown, fresh: boolean) {
  if (call.procedure === "messages.send") {
    const m = data as { sessionId?: unknown; id?: unknown; seq?: unknown };
    if (typeof m?.id !== "string" || typeof m.seq !== "number") throw new FuzzFailure("tRPC messages.send: a success that is not a message", `${w.method} ${w.path}`);
    const target = call.input instanceof Raw ? undefined : call.input.sessionId;
    if (target instanceof Ref && target.canonical && m.sessionId !== target.canonical) {
      throw new FuzzFailure("tRPC messages.send: stored in another session than the input names", `input session ${target.canonical}, stored in ${String(m.sessionId)}\n${w.path}`);
    }
  }
  if (!fresh) return;
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(inputText(call));
  } catch {}
  const want = expectedEcho(call.procedure, parsed);
  if (want) checkEcho(`tRPC ${call.procedure}`, w, data, want);
}

/** Sends generated requests at once (each is one case) and checks every answer and batch item. */
async function runRequests(label: string, generated: Request[]) {
  const wired = generated.map((req) => ({ req, w: trpcWire(req) }));
  const cases = wired.filter(({ w }) => w.path.length <= MAX_URL);
  tally.add(label, cases.length);
  tally.skip(wired.length - cases.length);
  const fresh = cases.map(({ req }) => clientIds.fresh(req.calls.map((c) => (c.procedure === "messages.send" ? clientIdKey(c.input) : null))));
  const sent = await Promise.all(cases.map(async ({ req, w }) => ({ req, w, a: await send(baseUrl(), w, `tRPC ${label}`) })));
  // Every acknowledgement is recorded first: a failure below must not hide one from the final check.
  for (const { req, w, a } of sent) {
    for (const { index, data } of successes(req, a)) {
      const call = index === null ? undefined : req.calls[index];
      record(data, `tRPC ${call ? fc.stringify(call.input).slice(0, 300) : w.path.slice(0, 200)}`);
    }
  }
  for (const [r, { req, w, a }] of sent.entries()) {
    const clean = isClean(req);
    // Echoes are compared only for input sent as JSON (not multipart, not broken).
    const asJson = req.t.input === "json" && !req.t.contentType?.startsWith("multipart/");
    checkAnswer(`tRPC ${label}${req.batch ? " batch" : ""}`, w, a, "trpc", !req.batch && clean && req.calls[0]!.control);
    if (req.batch) checkBatch(label, req, w, a, clean);
    for (const { index, data } of successes(req, a)) {
      const call = index === null ? undefined : req.calls[index];
      if (call) afterCall(call, w, data, asJson && fresh[r]![index!]!);
    }
  }
}

/** A batch answers with one item per call; a clean batch's valid calls succeed. */
function checkBatch(label: string, req: Request, w: Wire, a: Answer, clean: boolean) {
  if (!Array.isArray(a.json)) {
    if (clean) throw new FuzzFailure(`tRPC ${label} batch: a well-formed batch was not answered item by item`, `${w.method} ${w.path}\n→ ${a.status} ${a.text.slice(0, 300)}`);
    return;
  }
  if (clean && a.json.length !== req.calls.length) throw new FuzzFailure(`tRPC ${label} batch: ${a.json.length} items for ${req.calls.length} calls`, `${w.method} ${w.path}`);
  a.json.forEach((item, i) => checkBatchItem(`tRPC ${label} batch`, w, a, item, clean && !!req.calls[i]?.control));
}

/** Requests for one procedure: single calls mostly, now and then a batch of them (one token for all). */
function requests(procedure: ProcedureName): fc.Arbitrary<Request> {
  const calls = callArb(world, procedure);
  const single = calls.chain((call) => (call.control ? fc.constant(clean) : transport).map((t): Request => ({ calls: [call], batch: false, batchForm: "object", t })));
  const batch = fc
    .record({
      calls: fc.array(calls, { minLength: 1, maxLength: 4 }),
      batchForm: fc.oneof({ weight: 6, arbitrary: fc.constant("object" as const) }, { weight: 1, arbitrary: fc.constantFrom("array" as const, "gaps" as const, "odd-keys" as const) }),
      t: fc.oneof({ weight: 4, arbitrary: fc.constant(clean) }, { weight: 1, arbitrary: transport }),
    })
    .map(({ calls: cs, batchForm, t }): Request => {
      // One Authorization header for the batch: a call is a control only if it was meant for that token.
      const auth = cs[0]!.auth;
      return { calls: cs.map((c) => ({ ...c, auth, control: c.control && c.auth.label === auth.label })), batch: true, batchForm, t };
    });
  return fc.oneof({ weight: 4, arbitrary: single }, { weight: 1, arbitrary: batch });
}

describe("tRPC fuzz", () => {
  for (const procedure of Object.keys(PROCEDURES) as ProcedureName[]) {
    it(`${procedure}: never 5xx, never hangs, every error says why, valid calls succeed`, async () => {
      await fuzz(withRepeats(requests(procedure)), runs(PROCEDURES[procedure].runs), (reqs) => runRequests(procedure, reqs));
    }, 300_000);
  }

  it("procedure paths, mixed batches and malformed batches: never 5xx, every error says why", async () => {
    const names = Object.keys(PROCEDURES) as ProcedureName[];
    const path = fc.oneof(
      { weight: 3, arbitrary: fc.array(fc.constantFrom(...names), { minLength: 1, maxLength: 5 }).map((ns) => ns.join(",")) },
      {
        weight: 3,
        arbitrary: fc.constantFrom(
          "sessions.nope", "nope", "__proto__", "constructor", "toString", "sessions.__proto__", "sessions.constructor", "sessions.constructor.name",
          "messages.send.mutate", "sessions", "sessions.", ".sessions.get", "sessions..get", "", ",", ",,", "sessions.get,", "sessions.get,,sessions.get",
          "SESSIONS.GET", "sessions/get", "sessions%2Eget", "sessions.get%00", "_def", "_def.procedures", "createCaller", "a".repeat(5_000), "hasOwnProperty",
        ),
      },
      { weight: 2, arbitrary: fc.array(fc.oneof(fc.constantFrom(...names), text(10).map(pct)), { minLength: 1, maxLength: 4 }).map((ns) => ns.join(",")) },
    );
    const arb = fc.record({
      method: fc.constantFrom("GET", "POST", "PUT", "DELETE", "OPTIONS"),
      path,
      batch: fc.constantFrom("", "batch=1", "batch=0", "batch=true", "batch=1&batch=1", "batch="),
      input: fc.option(fc.oneof(wrongType.map(toJson), brokenJson.map((r) => r.text), fc.constant('{"0":{}}'), fc.constant('{"0":{},"1":{},"2":{}}')), { nil: undefined }),
      contentType,
      auth: fc.boolean(),
    });
    await fuzz(fc.array(arb, { minLength: 1, maxLength: 6 }), runs(370), async (generated) => {
      const cases = generated.filter((c) => c.method !== "GET" || c.input === undefined || pct(c.input).length < MAX_URL - 200);
      tally.add("paths", cases.length);
      tally.skip(generated.length - cases.length);
      await Promise.all(
        cases.map(async (c) => {
          const headers: Record<string, string> = {};
          if (c.auth) headers.authorization = `Bearer ${world.a.token}`;
          const query = [c.batch, c.method === "GET" && c.input !== undefined ? `input=${pct(c.input)}` : ""].filter(Boolean).join("&");
          const withBody = c.method !== "GET" && c.input !== undefined;
          if (withBody && c.contentType !== undefined) headers["content-type"] = c.contentType;
          const w: Wire = { method: c.method, path: `/trpc/${c.path}${query ? `?${query}` : ""}`, headers, ...(withBody ? { body: c.input } : {}) };
          const a = await send(baseUrl(), w, "tRPC path");
          checkAnswer("tRPC path", w, a, "trpc", false);
        }),
      );
    });
  }, 300_000);

  it("every acknowledged message is readable at its seq and in Postgres; every session still works", async () => {
    const problems = await checkSessionsAlive(world, ledger);
    problems.push(...(await ledger.verify(world.admin)));
    console.log(`fuzz: trpc checked ${ledger.size} acknowledged messages`);
    if (problems.length > 0) throw new Error(report("tRPC fuzz durability", problems));
  }, 120_000);
});
