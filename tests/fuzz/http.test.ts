// Fuzzes the REST API: every procedure's path params, query strings and bodies, plus unknown routes, methods and raw paths.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseUrl } from "../helpers";
import { Raw, Ref, contentType, hostileKey, multipart, pct, queryText, text, toJson, wrongType } from "./arbitraries";
import { MAX_URL, checkAnswer, checkEcho, send, type Answer, type Wire } from "./http-client";
import { Ledger, checkSessionsAlive, report } from "./ledger";
import { ClientIds, PROCEDURES, callArb, clientIdKey, expectedEcho, withRepeats, type Call, type ProcedureName } from "./procedures";
import { FuzzFailure, Tally, fuzz, runs } from "./runner";
import { createWorld, type World } from "./world";

/** How a REST call travels, beyond its input: content type, extra query, a smuggled id, padding. */
interface Transport {
  contentType: string | undefined;
  extraQuery: string;
  /** Also put the path parameters, with other values, into the query or body: the path must win. */
  smuggle: boolean;
  /** Pads the body past the 256 KiB limit. */
  oversize: boolean;
  /** A body on a GET or DELETE. */
  bodyOnRead: boolean;
}

const clean: Transport = { contentType: "application/json", extraQuery: "", smuggle: false, oversize: false, bodyOnRead: false };

const transport: fc.Arbitrary<Transport> = fc.record({
  contentType,
  extraQuery: fc.oneof(
    { weight: 8, arbitrary: fc.constant("") },
    {
      weight: 2,
      arbitrary: fc.constantFrom("&__proto__=1", "&constructor=x", "&limit=1&limit=2", "&%zz=1", "&=", "&&&", "&a", "&limit", "&before=1&before=2", "&type[]=active", "&cursor[a]=1", "&x=%00", "&%E0%A4%A=1", "#frag"),
    },
    { weight: 1, arbitrary: fc.tuple(hostileKey, text(10)).map(([k, v]) => `&${pct(k)}=${pct(v)}`) },
  ),
  smuggle: fc.boolean(),
  oversize: fc.oneof({ weight: 30, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  bodyOnRead: fc.oneof({ weight: 10, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

/** Puts a call on the wire as its REST twin. */
function restWire(call: Call, t: Transport, world: World): Wire {
  const def = PROCEDURES[call.procedure];
  const fields = call.input instanceof Raw ? {} : call.input;
  const params = new Set<string>();
  const path = def.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    params.add(name);
    const v = fields[name];
    if (v === undefined) return "";
    return v instanceof Ref ? v.segment : pct(queryText(v)).slice(0, 4_000);
  });
  const others = Object.keys(fields).filter((k) => !params.has(k) && fields[k] !== undefined);
  const smuggled: Record<string, unknown> = {};
  if (t.smuggle) for (const p of params) smuggled[p] = p === "userId" ? world.b.id : world.sessions.b[0];
  const headers: Record<string, string> = {};
  if (call.auth.header !== undefined) headers.authorization = call.auth.header;

  if (def.method === "GET" || def.method === "DELETE") {
    const pairs = [...Object.keys(smuggled).map((k) => `${k}=${pct(String(smuggled[k]))}`), ...others.map((k) => `${pct(k)}=${pct(queryText(fields[k]))}`)];
    const query = pairs.join("&") + t.extraQuery;
    const w: Wire = { method: def.method, path: `/api${path}${query ? `?${query.replace(/^&/, "")}` : ""}`, headers };
    if (t.bodyOnRead) {
      headers["content-type"] = "application/json";
      w.body = toJson(call.input);
    }
    return w;
  }
  // Spread and fromEntries define members, so a "__proto__" field stays a member, as JSON.parse would make it.
  let body = call.input instanceof Raw ? call.input.text : toJson({ ...smuggled, ...Object.fromEntries(others.map((k) => [k, fields[k]])) });
  if (t.contentType?.startsWith("multipart/form-data; boundary=fz")) body = multipart(body);
  if (t.oversize) body += " ".repeat(270 * 1024);
  if (t.contentType !== undefined) headers["content-type"] = t.contentType;
  return { method: def.method, path: `/api${path}${t.extraQuery ? `?${t.extraQuery.replace(/^&/, "")}` : ""}`, headers, body };
}

let world: World;
const ledger = new Ledger();
const clientIds = new ClientIds();
const tally = new Tally("http");

beforeAll(async () => {
  world = await createWorld("h");
}, 60_000);

afterAll(() => {
  console.log(tally.summary());
});

/** Records a send the server acknowledged (HTTP 200), before anything else is judged. */
function record(call: Call, a: Answer) {
  const m = a.json as { id?: unknown; seq?: unknown; sessionId?: unknown; content?: unknown; metadata?: unknown } | undefined;
  if (a.status !== 200 || typeof m?.id !== "string" || typeof m.seq !== "number" || typeof m.sessionId !== "string") return;
  ledger.add({ sessionId: m.sessionId, seq: m.seq, id: m.id, content: m.content as string, metadata: m.metadata, request: `REST ${fc.stringify(call.input).slice(0, 300)}` });
}

/** A success must be about the session the path names (not a smuggled one), and a sent message one. */
function checkAbout(call: Call, w: Wire, a: Answer) {
  if (a.status !== 200 || call.input instanceof Raw) return;
  const body = a.json as { id?: string; seq?: unknown; sessionId?: string; session?: { id: string }; messages?: { sessionId: string }[] };
  if (call.procedure === "messages.send" && (typeof body.id !== "string" || typeof body.seq !== "number")) {
    throw new FuzzFailure("REST messages.send: a 200 whose body is not a message", `${w.method} ${w.path}\n→ ${a.text.slice(0, 300)}`);
  }
  const target = call.input.sessionId;
  if (!(target instanceof Ref) || !target.canonical) return;
  const returnsSession = ["sessions.rename", "sessions.resolve", "sessions.end"].includes(call.procedure);
  const ids = [body.session?.id, body.sessionId, ...(body.messages ?? []).map((m) => m.sessionId), returnsSession ? body.id : undefined];
  const wrong = ids.find((id) => id !== undefined && id !== target.canonical);
  if (wrong) throw new FuzzFailure(`REST ${call.procedure}: answered about another session than the path names`, `path ${target.canonical}, answer about ${wrong}\n${w.method} ${w.path}`);
}

/** Sends a batch of generated calls at once (each is one case) and checks every answer. */
async function runCalls(procedure: ProcedureName, generated: [Call, Transport][]) {
  const label = `REST ${procedure}`;
  const wired = generated.map(([call, t]) => ({ call, w: restWire(call, t, world) }));
  const cases = wired.filter(({ w }) => w.path.length <= MAX_URL);
  tally.add(procedure, cases.length);
  tally.skip(wired.length - cases.length);
  const fresh = clientIds.fresh(cases.map(({ call }) => (procedure === "messages.send" ? clientIdKey(call.input) : null)));
  const sent = await Promise.all(cases.map(async ({ call, w }) => ({ call, w, a: await send(baseUrl(), w, label) })));
  // Every acknowledgement is recorded first: a failure below must not hide one from the final check.
  if (procedure === "messages.send") for (const { call, a } of sent) record(call, a);
  for (const [i, { call, w, a }] of sent.entries()) {
    checkAnswer(label, w, a, "rest", call.control);
    checkAbout(call, w, a);
    const want = a.status === 200 && fresh[i] ? expectedEcho(procedure, parseBody(w)) : null;
    if (want) checkEcho(label, w, a.json, want);
  }
}

/** The body as the server parsed it (null when it is not JSON, or there is none). */
function parseBody(w: Wire): unknown {
  if (w.body === undefined) return null;
  try {
    return JSON.parse(w.body);
  } catch {
    return null;
  }
}

describe("REST fuzz", () => {
  it("covers every operation in /openapi.json", async () => {
    const res = await fetch(`${baseUrl()}/openapi.json`);
    const doc = (await res.json()) as { paths: Record<string, Record<string, { "x-trpc-procedure"?: string }>> };
    // The procedures' operations (routes documented by hand, like the socket, carry no procedure).
    const served = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).flatMap(([method, op]) => (op["x-trpc-procedure"] ? [`${op["x-trpc-procedure"]} ${method.toUpperCase()} ${path}`] : [])),
    );
    const fuzzed = Object.entries(PROCEDURES).map(([name, def]) => `${name} ${def.method} ${def.path}`);
    expect(fuzzed.sort()).toEqual(served.sort());
  });

  for (const procedure of Object.keys(PROCEDURES) as ProcedureName[]) {
    it(`${procedure}: never 5xx, never hangs, every 4xx says why, valid calls succeed`, async () => {
      const arb = callArb(world, procedure).chain((call) => (call.control ? fc.constant<[Call, Transport]>([call, clean]) : transport.map((t): [Call, Transport] => [call, t])));
      await fuzz(withRepeats(arb), runs(PROCEDURES[procedure].runs), (cases) => runCalls(procedure, cases));
    }, 300_000);
  }

  it("unknown routes, methods and raw paths: never 5xx, every 4xx says why", async () => {
    const id = () => fc.constantFrom(...world.sessions.a);
    const path = fc.oneof(
      fc.constantFrom("/api", "/api/", "/api//sessions", "/API/sessions", "/api/sessions/", "/api/users", "/api/users//sessions", "/api/users/x/stats/", "/", "/docs", "/docs/", "/assets/missing.js", "/favicon.ico", "/trpc", "/trpc/", "/health", "/openapi.json", "/api/sessions;x=1", "/api/sessions/%2e%2e/%2e%2e/health", "/api/%00", "/api/%zz", "/api/" + "a".repeat(12_000), "/api/sessions/../users/x/stats", "//api/sessions", "/api/sessions?%"),
      id().map((s) => `/api/sessions/${s}/messages/extra`),
      id().map((s) => `/api/sessions/${s}/ws`),
      id().map((s) => `/api/sessions/${s}/history/`),
      id().map((s) => `/api/sessions/${s}/..`),
      id().map((s) => `/api/sessions/${s}/resume/../resolve`),
      fc.array(text(8).map(pct), { minLength: 1, maxLength: 4 }).map((segs) => `/api/${segs.join("/")}`),
    );
    const arb = fc.record({
      method: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"),
      path,
      auth: fc.boolean(),
      body: fc.option(fc.oneof(wrongType.map(toJson), fc.constant("{}")), { nil: undefined }),
      contentType,
    });
    await fuzz(fc.array(arb, { minLength: 1, maxLength: 6 }), runs(320), async (cases) => {
      tally.add("routes", cases.length);
      await Promise.all(
        cases.map(async (c) => {
          const headers: Record<string, string> = {};
          if (c.auth) headers.authorization = `Bearer ${world.a.token}`;
          if (c.contentType !== undefined && c.body !== undefined) headers["content-type"] = c.contentType;
          const w: Wire = { method: c.method, path: c.path, headers, ...(c.body !== undefined && c.method !== "GET" && c.method !== "HEAD" ? { body: c.body } : {}) };
          const a = await send(baseUrl(), w, "route");
          // A HEAD answer has no body to judge; only its status.
          if (c.method === "HEAD") {
            if (a.status >= 500) throw new FuzzFailure(`route: HEAD answered ${a.status}`, `${w.method} ${w.path}`);
            return;
          }
          // The pages (the chat page, the API docs) answer GET with HTML; anything else there is the API's,
          // except that the chat page is a static asset: the asset server answers other methods 405.
          if (c.method === "GET" && (c.path === "/" || c.path === "/docs")) {
            if (a.status !== 200 || !a.contentType.startsWith("text/html")) throw new FuzzFailure(`route: page answered ${a.status} ${a.contentType}`, `${w.method} ${w.path}`);
            return;
          }
          if (c.path === "/") {
            if (a.status !== 405) throw new FuzzFailure(`route: ${c.method} on the page answered ${a.status}`, `${w.method} ${w.path}`);
            return;
          }
          checkAnswer("route", w, a, c.path.startsWith("/trpc") ? "trpc" : "rest", false);
        }),
      );
    });
  }, 300_000);

  it("every acknowledged message is readable at its seq and in Postgres; every session still works", async () => {
    const problems = await checkSessionsAlive(world, ledger);
    problems.push(...(await ledger.verify(world.admin)));
    console.log(`fuzz: http checked ${ledger.size} acknowledged messages`);
    if (problems.length > 0) throw new Error(report("REST fuzz durability", problems));
  }, 120_000);
});
