// Every API procedure as the fuzz suite sees it: its REST twin, and generators of valid and hostile inputs.
import fc from "fast-check";
import {
  Raw,
  Ref,
  deepObject,
  extras,
  hostileMetadata,
  hostileNumber,
  hostileString,
  jsonValue,
  listCursor,
  pct,
  sessionRef,
  toJson,
  userRef,
  validCursor,
  validMetadata,
  validText,
  wrongType,
} from "./arbitraries";
import { redact } from "../../worker/agents/redact";
import { Auth, authArb, bearer, type World } from "./world";

export type ProcedureName =
  | "sessions.create"
  | "sessions.get"
  | "sessions.list"
  | "sessions.rename"
  | "sessions.end"
  | "sessions.resume"
  | "sessions.resolve"
  | "messages.send"
  | "messages.history"
  | "messages.search"
  | "users.stats"
  | "admin.deadLetters"
  | "sessions.waiting"
  | "sessions.handoff"
  | "turns.cancel"
  | "agents.deadLetters"
  | "agents.retry"
  | "agents.health";

export interface ProcedureDef {
  kind: "query" | "mutation";
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** The REST path, as in the procedure's meta.openapi. */
  path: string;
  /**
   * Default fuzz runs (each sends 1–6 requests at once; FUZZ_RUNS scales them). Calls that reach
   * Postgres cost tens of ms of machine time each (a connection per request), so they get fewer;
   * sends (the session's object only) get more.
   */
  runs: number;
  /**
   * A valid call may still be refused with a 4xx because of what the server holds, not the input
   * (cancelling when no turn runs, replaying a turn that is no dead letter): such calls are judged as
   * hostile ones (never 5xx, every 4xx says why), never as controls.
   */
  mayRefuse?: true;
}

/** The procedures of worker/routers (checked against /openapi.json by the REST fuzz file). */
export const PROCEDURES: Record<ProcedureName, ProcedureDef> = {
  "sessions.create": { kind: "mutation", method: "POST", path: "/sessions", runs: 15 },
  "sessions.get": { kind: "query", method: "GET", path: "/sessions/{sessionId}", runs: 15 },
  "sessions.list": { kind: "query", method: "GET", path: "/users/{userId}/sessions", runs: 30 },
  "sessions.rename": { kind: "mutation", method: "PATCH", path: "/sessions/{sessionId}", runs: 15 },
  "sessions.end": { kind: "mutation", method: "DELETE", path: "/sessions/{sessionId}", runs: 15 },
  "sessions.resume": { kind: "mutation", method: "POST", path: "/sessions/{sessionId}/resume", runs: 12 },
  "sessions.resolve": { kind: "mutation", method: "POST", path: "/sessions/{sessionId}/resolve", runs: 15 },
  "messages.send": { kind: "mutation", method: "POST", path: "/sessions/{sessionId}/messages", runs: 200 },
  "messages.history": { kind: "query", method: "GET", path: "/sessions/{sessionId}/history", runs: 30 },
  "messages.search": { kind: "query", method: "GET", path: "/search", runs: 30 },
  "users.stats": { kind: "query", method: "GET", path: "/users/{userId}/stats", runs: 15 },
  "admin.deadLetters": { kind: "query", method: "GET", path: "/admin/dead-letters", runs: 12 },
  "sessions.waiting": { kind: "query", method: "GET", path: "/sessions/waiting", runs: 10 },
  "sessions.handoff": { kind: "mutation", method: "POST", path: "/sessions/{sessionId}/handoff", runs: 15 },
  "turns.cancel": { kind: "mutation", method: "POST", path: "/sessions/{sessionId}/turns/cancel", runs: 20, mayRefuse: true },
  "agents.deadLetters": { kind: "query", method: "GET", path: "/agents/dead-letters", runs: 12 },
  "agents.retry": { kind: "mutation", method: "POST", path: "/agents/dead-letters/{turnId}/retry", runs: 12, mayRefuse: true },
  "agents.health": { kind: "query", method: "GET", path: "/agents/health", runs: 10 },
};

/** One generated call of a procedure, before it is put on a wire (REST or tRPC). */
export interface Call {
  procedure: ProcedureName;
  auth: Auth;
  /** The input's fields (undefined: left out), or a whole input that is not an object. */
  input: Record<string, unknown> | Raw;
  /** Valid by construction: the answer must be 2xx. */
  control: boolean;
}

/** A whole input that is not an object. */
const notAnObject: fc.Arbitrary<Raw> = fc.oneof(
  fc.constantFrom(new Raw("[]"), new Raw("null"), new Raw('"input"'), new Raw("42"), new Raw("true"), new Raw('[{"sessionId":"x"}]')),
  fc.array(fc.oneof(jsonValue, wrongType), { maxLength: 3 }).map((a) => new Raw(toJson(a), `array(${a.length})`)),
  deepObject,
  fc.constantFrom(new Raw("{"), new Raw(""), new Raw('{"a":1,}'), new Raw("\ufeff{}"), new Raw('{"__proto__":{"role":"admin"}}')),
);

/** Merges fields with extras (extras never override a generated field) into one input. */
function withExtras(fields: Record<string, unknown>, more: Record<string, unknown>) {
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(more)) Object.defineProperty(o, k, { value: more[k], enumerable: true, configurable: true, writable: true });
  for (const k of Object.keys(fields)) Object.defineProperty(o, k, { value: fields[k], enumerable: true, configurable: true, writable: true });
  return o;
}

// ---- field generators ---------------------------------------------------------------------------

const title = validText(60).filter((s) => s.trim().length > 0 && s.trim().length <= 200);
const agentTypes = ["primary", "log_analysis", "research", "router"];
const seq = fc.oneof(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.nat(300));
/** `messages.search` cursors as the server makes them: base64 of "<rank in [0, 1)>|<uuid>", padded or not. */
const searchCursorOf = (rank: string, id: string, label: string) =>
  fc.boolean().map((pad) => {
    const b = Buffer.from(`${rank}|${id}`, "utf8").toString("base64");
    const v = pad ? b : b.replace(/=+$/, "");
    return new Ref(v, pct(v), `searchCursor(${label})`);
  });
const validSearchCursor = fc
  .tuple(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }).filter((r) => r === 0 || r >= 1e-300), fc.uuid())
  .chain(([rank, id]) => searchCursorOf(String(rank), id, `${rank}|${id.slice(0, 8)}`));
/** Valid ones, ranks out of range or oddly spelled, ids that are no UUID, and garbage. */
const searchCursor = fc.oneof(
  { weight: 2, arbitrary: validSearchCursor },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom("1", "-0", "-0.5", "1e-999", "5e-324", "NaN", "Infinity", "0.50", ".5", "1e400", "0x1", " 0.5", ""), fc.uuid())
      .chain(([rank, id]) => searchCursorOf(rank, id, `${rank}|${id.slice(0, 8)}`)),
  },
  { weight: 1, arbitrary: fc.tuple(fc.double(), fc.stringMatching(/^[0-9a-f-]{36}$/)).chain(([rank, id]) => searchCursorOf(String(rank), id, `${rank}|${id}`)) },
  { weight: 2, arbitrary: listCursor },
  { weight: 2, arbitrary: fc.oneof(hostileString, wrongType) },
);
const searchQuery = fc.oneof(
  validText(40).filter((q) => q.trim().length <= 200),
  fc.constantFrom("card", "card declined", '"card declined"', "card or balance", "-card", "card -blocked", "!!! ---", "&|!<->", "a".repeat(200), ` ${"b".repeat(200)} `),
);

const limit = (max: number) => fc.oneof(fc.integer({ min: 1, max }), fc.integer({ min: 1, max }).map(String));

// ---- the procedures ------------------------------------------------------------------------------

/** A procedure for the generators: valid inputs, who sends them, and what each field can be instead. */
interface Spec {
  /** Callers a valid input is valid for. */
  controlAuth: fc.Arbitrary<Auth>;
  /** Valid fields (undefined: left out, which is valid too). */
  control: fc.Arbitrary<Record<string, unknown>>;
  /** Hostile values per field. */
  hostile: Record<string, fc.Arbitrary<unknown>>;
  /** Callers for hostile calls: mostly the control caller, sometimes another user or a broken token. */
  callers: fc.Arbitrary<Auth>;
}

const KEEP = Symbol("keep the valid value");

/** A copy of `fields` with `key` set to `value` (undefined: left out). */
function withField(fields: Record<string, unknown>, key: string, value: unknown) {
  const o = withExtras(fields, {});
  Object.defineProperty(o, key, { value, enumerable: true, configurable: true, writable: true });
  return o;
}

/**
 * Hostile calls from a spec. Most are a valid call with one field made hostile (or left out, or sent
 * by someone else), so each hostile value gets past the other checks and reaches the code behind
 * them; the rest change many fields at once, add unknown members, or are not an object at all.
 */
function hostileCalls(procedure: ProcedureName, spec: Spec): fc.Arbitrary<Call> {
  const keys = Object.keys(spec.hostile);
  const make = (auth: Auth, input: Record<string, unknown> | Raw): Call => ({ procedure, auth, input, control: false });
  const base = fc.record({ auth: spec.controlAuth, fields: spec.control });
  return fc.oneof(
    {
      weight: 8,
      arbitrary: fc
        .tuple(base, fc.constantFrom(...keys))
        .chain(([b, key]) => spec.hostile[key]!.map((v) => make(b.auth, withField(b.fields, key, v)))),
    },
    { weight: 1, arbitrary: fc.tuple(base, fc.constantFrom(...keys)).map(([b, key]) => make(b.auth, withField(b.fields, key, undefined))) },
    { weight: 2, arbitrary: fc.tuple(base, spec.callers).map(([b, auth]) => make(auth, b.fields)) },
    { weight: 1, arbitrary: fc.tuple(base, extras).map(([b, more]) => make(b.auth, withExtras(b.fields, more))) },
    {
      // Several fields hostile at once (each with probability 2/3), from any caller, with extras.
      weight: 2,
      arbitrary: fc
        .record({
          auth: spec.callers,
          more: extras,
          valid: spec.control,
          swaps: fc.tuple(...keys.map((k) => fc.option(spec.hostile[k]!, { nil: KEEP, freq: 3 }))),
        })
        .map(({ auth, more, valid, swaps }) => {
          const fields = keys.reduce((o, k, i) => (swaps[i] === KEEP ? o : withField(o, k, swaps[i])), valid);
          return make(auth, withExtras(fields, more));
        }),
    },
    { weight: 1, arbitrary: fc.tuple(spec.callers, notAnObject).map(([auth, whole]) => make(auth, whole)) },
  );
}

/** Valid and hostile calls of each procedure, over the real sessions of `world`. */
export function calls(world: World): Record<ProcedureName, { control: fc.Arbitrary<Call>; hostile: fc.Arbitrary<Call> }> {
  const { a, b, admin, creator, ender, guest, sessions } = world;
  const asA = bearer(a, "a");
  const asAdmin = bearer(admin, "admin");
  const aOrAdmin = fc.oneof({ weight: 3, arbitrary: fc.constant(asA) }, { weight: 1, arbitrary: fc.constant(asAdmin) });
  const ownExact = fc.constantFrom(...sessions.a).map((id) => new Ref(id, id, `a(${id.slice(0, 8)})`, id));
  const anySession = fc.oneof({ weight: 6, arbitrary: sessionRef(sessions.a, sessions.b) }, { weight: 1, arbitrary: wrongType });
  const aCallers = authArb(world, a, "a", [[b, "b"], [admin, "admin"], [guest, "guest"]]);
  const users = [b.id, admin.id, "nobody", ""];
  const self = new Ref(a.id, a.id, "a", a.id);
  const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
  const adminCallers = authArb(world, admin, "admin", [[a, "a"], [guest, "guest"]]);

  const specs: Record<ProcedureName, Spec> = {
    "sessions.create": {
      controlAuth: fc.constant(bearer(creator, "creator")),
      control: fc.record({ agentType: opt(fc.constantFrom(...agentTypes)), title: opt(title), metadata: opt(validMetadata) }),
      hostile: {
        agentType: fc.oneof(hostileString, wrongType, fc.constantFrom("PRIMARY", "primary ", "__proto__", "constructor", "toString")),
        title: fc.oneof(hostileString, wrongType),
        metadata: hostileMetadata,
      },
      callers: authArb(world, creator, "creator", [[admin, "admin"], [guest, "guest"]]),
    },
    "sessions.get": {
      controlAuth: aOrAdmin,
      control: fc.record({ sessionId: ownExact }),
      hostile: { sessionId: anySession },
      callers: aCallers,
    },
    "sessions.list": {
      controlAuth: aOrAdmin,
      control: fc.record({ userId: fc.constant(self), type: opt(fc.constantFrom("active", "unresolved", "recent")), limit: opt(limit(100)), cursor: opt(validCursor) }),
      hostile: {
        userId: fc.oneof(userRef(a.id, users), wrongType),
        type: fc.oneof(hostileString, wrongType, fc.constantFrom("ACTIVE", "ended", "__proto__", "constructor", "all")),
        limit: hostileNumber,
        cursor: listCursor,
      },
      callers: aCallers,
    },
    "sessions.rename": {
      controlAuth: fc.constant(asA),
      control: fc.record({ sessionId: ownExact, title }),
      hostile: { sessionId: anySession, title: fc.oneof(hostileString, wrongType) },
      callers: aCallers,
    },
    "sessions.end": {
      // Only erin's sessions may end: a, b and the others keep chatting (a's and b's only as others' ids).
      controlAuth: fc.constant(bearer(ender, "erin")),
      control: fc.record({
        sessionId: fc.constantFrom(...sessions.doomed).map((id) => new Ref(id, id, `doomed(${id.slice(0, 8)})`, id)),
        reason: opt(validText(40).filter((r) => r.trim().length <= 200)),
      }),
      hostile: { sessionId: fc.oneof({ weight: 6, arbitrary: sessionRef(sessions.doomed, [...sessions.a, ...sessions.b]) }, { weight: 1, arbitrary: wrongType }), reason: fc.oneof(hostileString, wrongType) },
      callers: authArb(world, ender, "erin", [[admin, "admin"], [creator, "creator"]]),
    },
    "sessions.resume": {
      controlAuth: fc.constant(asA),
      control: fc.record({ sessionId: ownExact }),
      hostile: { sessionId: anySession },
      callers: aCallers,
    },
    "sessions.resolve": {
      controlAuth: aOrAdmin,
      control: fc.record({ sessionId: ownExact, notes: opt(validText(80)) }),
      hostile: { sessionId: anySession, notes: fc.oneof(hostileString, wrongType) },
      callers: aCallers,
    },
    "messages.send": {
      controlAuth: fc.constant(asA),
      control: fc.record({
        sessionId: ownExact,
        content: validText(120),
        clientId: opt(fc.uuid().map((u) => `ctl-${u}`)),
        messageType: opt(fc.constantFrom("text", "note", "m".repeat(32))),
        metadata: opt(validMetadata),
      }),
      hostile: {
        sessionId: anySession,
        content: fc.oneof(hostileString, wrongType, fc.constantFrom("   ", "\n\t", "\u3000", "\u00a0")),
        // Valid but reused clientIds too: a repeat answers with the first message.
        clientId: fc.oneof(fc.constantFrom("c-1", "c-2", "dup", "x"), hostileString, wrongType),
        messageType: fc.oneof(hostileString, wrongType),
        metadata: fc.oneof(hostileMetadata, deepObject),
      },
      callers: authArb(world, a, "a", [[b, "b"], [admin, "admin"], [guest, "guest"]]),
    },
    "messages.history": {
      controlAuth: aOrAdmin,
      control: fc
        .record({ sessionId: ownExact, limit: opt(limit(200)), cursor: opt(fc.tuple(fc.constantFrom("before", "after", "offset"), seq)) })
        .map(({ cursor, ...rest }) => ({ ...rest, ...(cursor ? { [cursor[0]]: cursor[1] } : {}) })),
      hostile: { sessionId: anySession, limit: hostileNumber, before: hostileNumber, after: hostileNumber, offset: hostileNumber },
      callers: aCallers,
    },
    "messages.search": {
      controlAuth: aOrAdmin,
      control: fc.record({ q: searchQuery, sessionId: opt(ownExact), limit: opt(limit(100)), cursor: opt(validSearchCursor) }),
      hostile: {
        q: fc.oneof(hostileString, wrongType, fc.constantFrom("", "   ", "\t\n", "x".repeat(201), "card\u0000", "'); drop table chat_messages; --", "%", "_", "\\", "'")),
        sessionId: anySession,
        limit: hostileNumber,
        cursor: searchCursor,
      },
      callers: aCallers,
    },
    "users.stats": {
      controlAuth: aOrAdmin,
      control: fc.record({ userId: fc.constant(self) }),
      hostile: { userId: fc.oneof(userRef(a.id, users), wrongType) },
      callers: aCallers,
    },
    "admin.deadLetters": {
      controlAuth: fc.constant(asAdmin),
      control: fc.record({ limit: opt(limit(200)), before: opt(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })) }),
      hostile: { limit: hostileNumber, before: hostileNumber },
      callers: adminCallers,
    },
    "sessions.waiting": {
      controlAuth: fc.constant(asAdmin),
      control: fc.record({ limit: opt(limit(200)) }),
      hostile: { limit: hostileNumber },
      callers: adminCallers,
    },
    "sessions.handoff": {
      // Staff take a's sessions and hand them back: a's messages then wait for a human, or go to another agent.
      controlAuth: fc.constant(asAdmin),
      control: fc.record({ sessionId: ownExact, to: fc.constantFrom("human", ...agentTypes) }),
      hostile: {
        sessionId: anySession,
        to: fc.oneof(hostileString, wrongType, fc.constantFrom("HUMAN", "Human", "human ", "nlu", "__proto__", "constructor", "agent")),
      },
      callers: adminCallers,
    },
    "turns.cancel": {
      controlAuth: aOrAdmin,
      control: fc.record({ sessionId: ownExact, turnId: opt(fc.uuid({ version: 4 })) }),
      hostile: { sessionId: anySession, turnId: fc.oneof(hostileString, wrongType, fc.uuid().map((u) => u.toUpperCase())) },
      callers: aCallers,
    },
    "agents.deadLetters": {
      controlAuth: fc.constant(asAdmin),
      control: fc.record({ limit: opt(limit(200)), cursor: opt(validCursor) }),
      hostile: { limit: hostileNumber, cursor: listCursor },
      callers: adminCallers,
    },
    "agents.retry": {
      controlAuth: fc.constant(asAdmin),
      control: fc.record({ turnId: fc.uuid({ version: 4 }).map((id) => new Ref(id, id, `turn(${id.slice(0, 8)})`, id)) }),
      hostile: {
        turnId: fc.oneof(
          fc.oneof(hostileString.filter((v) => typeof v === "string" && v.length > 0), fc.constantFrom("%00", "..", "x".repeat(300))).map((v) => new Ref(String(v), pct(String(v)), "odd id")),
          fc.uuid().map((u) => new Ref(u.toUpperCase(), u.toUpperCase(), "UPPER uuid")),
        ),
      },
      callers: adminCallers,
    },
    "agents.health": {
      controlAuth: fc.constant(asAdmin),
      control: fc.record({ hours: opt(fc.integer({ min: 1, max: 720 })) }),
      hostile: { hours: hostileNumber },
      callers: adminCallers,
    },
  };

  return Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => {
      const procedure = name as ProcedureName;
      const control = fc
        .record({ auth: spec.controlAuth, fields: spec.control })
        .map(({ auth, fields }): Call => ({ procedure, auth, input: fields, control: !PROCEDURES[procedure].mayRefuse }));
      return [procedure, { control, hostile: hostileCalls(procedure, spec) }];
    }),
  ) as Record<ProcedureName, { control: fc.Arbitrary<Call>; hostile: fc.Arbitrary<Call> }>;
}

/** Every procedure's calls, `hostile` most of the time and a control group the rest. */
export function callArb(world: World, procedure: ProcedureName, controlWeight = 1, hostileWeight = 3): fc.Arbitrary<Call> {
  const { control, hostile } = calls(world)[procedure];
  return fc.oneof({ weight: controlWeight, arbitrary: control }, { weight: hostileWeight, arbitrary: hostile });
}


/** A customer message's content and metadata as stored: card numbers and IBANs masked, and the masking recorded. */
export function asStored(content: string, metadata: Record<string, unknown>) {
  const masked = redact(content, new Set(["card", "iban"]));
  return { content: masked.text, metadata: masked.redactions.length > 0 ? { ...metadata, redactions: masked.redactions } : metadata };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * What an accepted call must answer with, worked out from its input exactly as the server parsed it:
 * whatever the server takes, it must keep as sent. Null when there is nothing to compare.
 */
export function expectedEcho(procedure: ProcedureName, input: unknown): Record<string, unknown> | null {
  if (!isRecord(input)) return null;
  switch (procedure) {
    case "messages.send":
      return typeof input.content === "string"
        ? { ...asStored(input.content, (input.metadata as Record<string, unknown> | undefined) ?? {}), messageType: input.messageType ?? "text", clientId: input.clientId ?? null }
        : null;
    case "sessions.rename":
      return typeof input.title === "string" ? { title: input.title.trim() } : null;
    case "sessions.create":
      return { agentType: input.agentType ?? "primary", title: typeof input.title === "string" ? input.title.trim() : null, metadata: input.metadata ?? {} };
    default:
      return null;
  }
}

/**
 * Tracks clientIds per session: a repeated clientId is answered with the first message, so only a
 * clientId's first, unraced use can be compared with what was sent.
 */
export class ClientIds {
  private readonly used = new Set<string>();

  /** For each send of one concurrent batch, whether its answer must echo its own input. */
  fresh(keys: (string | null)[]): boolean[] {
    const counts = new Map<string, number>();
    for (const k of keys) if (k !== null) counts.set(k, (counts.get(k) ?? 0) + 1);
    const out = keys.map((k) => k === null || (!this.used.has(k) && counts.get(k) === 1));
    for (const k of keys) if (k !== null) this.used.add(k);
    return out;
  }
}

/** The dedupe key of a send: its session (as the server will resolve it, case aside) and clientId. */
export function clientIdKey(input: unknown): string | null {
  if (!isRecord(input) || input.clientId === undefined || input.clientId === null) return null;
  // toJson, not String(): a generated value may be an object whose "toString" is not a function.
  const session = input.sessionId instanceof Ref ? (input.sessionId.canonical ?? toJson(input.sessionId.value)) : toJson(input.sessionId);
  return `${session.toLowerCase()}|${toJson(input.clientId)}`;
}

/**
 * A batch of generated items, where now and then the first is sent twice at once: a double click,
 * or a retry racing the original. A valid call must succeed both times.
 */
export function withRepeats<T>(item: fc.Arbitrary<T>, maxLength = 6): fc.Arbitrary<T[]> {
  return fc
    .tuple(fc.array(item, { minLength: 1, maxLength }), fc.integer({ min: 0, max: 3 }))
    .map(([items, repeat]) => (repeat === 0 ? [...items, items[0]!] : items));
}
