// Every API procedure as the fuzz suite sees it: its REST twin, and generators of valid and hostile inputs.
import fc from "fast-check";
import {
  Raw,
  Ref,
  deepObject,
  hostileKey,
  hostileNumber,
  hostileObject,
  jsonValue,
  listCursor,
  longString,
  sessionRef,
  text,
  userRef,
  validCursor,
  validText,
  wrongType,
} from "./arbitraries";
import { Auth, authArb, bearer, type Actor, type World } from "./world";

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
  | "users.stats";

export interface ProcedureDef {
  kind: "query" | "mutation";
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** The REST path, as in the procedure's meta.openapi. */
  path: string;
}

/** The procedures of worker/routers (checked against /openapi.json by the REST fuzz file). */
export const PROCEDURES: Record<ProcedureName, ProcedureDef> = {
  "sessions.create": { kind: "mutation", method: "POST", path: "/sessions" },
  "sessions.get": { kind: "query", method: "GET", path: "/sessions/{sessionId}" },
  "sessions.list": { kind: "query", method: "GET", path: "/users/{userId}/sessions" },
  "sessions.rename": { kind: "mutation", method: "PATCH", path: "/sessions/{sessionId}" },
  "sessions.end": { kind: "mutation", method: "DELETE", path: "/sessions/{sessionId}" },
  "sessions.resume": { kind: "mutation", method: "POST", path: "/sessions/{sessionId}/resume" },
  "sessions.resolve": { kind: "mutation", method: "POST", path: "/sessions/{sessionId}/resolve" },
  "messages.send": { kind: "mutation", method: "POST", path: "/sessions/{sessionId}/messages" },
  "messages.history": { kind: "query", method: "GET", path: "/sessions/{sessionId}/history" },
  "users.stats": { kind: "query", method: "GET", path: "/users/{userId}/stats" },
};

/** One generated call of a procedure, before it is put on a wire (REST or tRPC). */
export interface Call {
  procedure: ProcedureName;
  auth: Auth;
  /** The input's fields (undefined: left out), or a whole input that is not an object. */
  input: Record<string, unknown> | Raw;
  /** Valid by construction: the answer must be 2xx. */
  control: boolean;
  /** For valid sends and edits: what the answer must echo back. */
  echo?: Record<string, unknown>;
}

/** A field: usually valid, sometimes hostile, sometimes missing. */
function field(valid: fc.Arbitrary<unknown>, hostile: fc.Arbitrary<unknown>, weights: [number, number, number] = [6, 3, 1]) {
  return fc.oneof(
    { weight: weights[0], arbitrary: valid },
    { weight: weights[1], arbitrary: hostile },
    { weight: weights[2], arbitrary: fc.constant(undefined) },
  );
}

/** Extra members nobody asked for: prototype keys, a sessionId that disagrees with the path, junk. */
const extras = fc.oneof(
  { weight: 5, arbitrary: fc.constant({}) },
  { weight: 2, arbitrary: fc.array(fc.tuple(hostileKey, wrongType), { maxLength: 3 }) },
).map((entries) => {
  const o: Record<string, unknown> = {};
  if (Array.isArray(entries)) for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true });
  return o;
});

/** A whole input that is not an object. */
const notAnObject: fc.Arbitrary<Raw> = fc.oneof(
  fc.constantFrom(new Raw("[]"), new Raw("null"), new Raw('"input"'), new Raw("42"), new Raw("true"), new Raw('[{"sessionId":"x"}]')),
  fc.array(fc.oneof(jsonValue, wrongType), { maxLength: 3 }).map((a) => new Raw(JSON.stringify(a), `array(${a.length})`)),
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
const hostileString = fc.oneof(text(30), longString, fc.constantFrom("", " ", "\u0000", "a\u0000b", "\u2028", "\ud800"));
/** Metadata a server must accept: at most 8 KiB of JSON, no NUL; keys may be `__proto__` and friends. */
const smallMetadata = fc
  .array(fc.tuple(fc.oneof({ weight: 3, arbitrary: fc.string({ maxLength: 10 }) }, { weight: 1, arbitrary: hostileKey }), jsonValue), { maxLength: 4 })
  .map((entries) => {
    const o: Record<string, unknown> = {};
    for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true });
    return o;
  })
  .filter((m) => {
    const json = JSON.stringify(m);
    return json.length <= 8_000 && !json.includes("\\u0000");
  });
const hostileMetadata = fc.oneof(wrongType, deepObject, longString.map((s) => new Raw(`{"big":${s.text}}`, `{big: ${s.label}}`)), fc.constant(new Raw('{"k":"\\u0000"}')));
const seq = fc.oneof(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.nat(300));
const limit = (max: number) => fc.oneof(fc.integer({ min: 1, max }), fc.integer({ min: 1, max }).map(String));
const agentTypes = ["primary", "log_analysis", "research", "router"];
/** Client ids: a small shared pool (so duplicates happen) or fresh ones. */
const clientId = fc.oneof(fc.constantFrom("c-1", "c-2", "dup", "x"), validText(20).filter((s) => s.length <= 128), fc.uuid());

// ---- the procedures ------------------------------------------------------------------------------

/** Valid and hostile calls of each procedure, over the real sessions of `world`. */
export function calls(world: World): Record<ProcedureName, { control: fc.Arbitrary<Call>; hostile: fc.Arbitrary<Call> }> {
  const { a, b, admin, creator, ender, guest, sessions } = world;
  const own = sessionRef(sessions.a, sessions.b);
  const ownExact = fc.constantFrom(...sessions.a).map((id) => new Ref(id, id, `a(${id.slice(0, 8)})`, id));
  const asA = authArb(world, a, "a", [[b, "b"], [admin, "admin"], [guest, "guest"]]);
  const users = [b.id, admin.id, "nobody", ""];

  const call = (procedure: ProcedureName, control: boolean) =>
    (parts: { auth: Auth; fields: Record<string, unknown>; more?: Record<string, unknown>; whole?: Raw | null; echo?: Record<string, unknown> }): Call => ({
      procedure,
      auth: parts.auth,
      input: parts.whole ?? withExtras(parts.fields, parts.more ?? {}),
      control,
      ...(parts.echo ? { echo: parts.echo } : {}),
    });
  /** A hostile input: fields with hostile values, sometimes extras, now and then not an object at all. */
  const hostile = (procedure: ProcedureName, auth: fc.Arbitrary<Auth>, fields: fc.Arbitrary<Record<string, unknown>>) =>
    fc
      .record({ auth, fields, more: extras, whole: fc.oneof({ weight: 11, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: notAnObject }) })
      .map(call(procedure, false));
  const asActor = (actor: Actor, label: string) => fc.constant(bearer(actor, label));

  return {
    "sessions.create": {
      control: fc
        .record({ agentType: fc.option(fc.constantFrom(...agentTypes), { nil: undefined }), title: fc.option(title, { nil: undefined }), metadata: fc.option(smallMetadata, { nil: undefined }) })
        .map((fields) =>
          call("sessions.create", true)({
            auth: bearer(creator, "creator"),
            fields,
            echo: { agentType: fields.agentType ?? "primary", title: fields.title?.trim() ?? null, metadata: fields.metadata ?? {} },
          }),
        ),
      hostile: hostile(
        "sessions.create",
        authArb(world, creator, "creator", [[admin, "admin"], [guest, "guest"]]),
        fc.record({
          agentType: field(fc.constantFrom(...agentTypes), fc.oneof(hostileString, wrongType, fc.constantFrom("PRIMARY", "primary ", "__proto__", "constructor", "toString"))),
          title: field(title, fc.oneof(hostileString, wrongType)),
          metadata: field(smallMetadata, hostileMetadata),
        }),
      ),
    },

    "sessions.get": {
      control: fc.tuple(ownExact, fc.boolean()).map(([sessionId, asAdmin]) => call("sessions.get", true)({ auth: asAdmin ? bearer(admin, "admin") : bearer(a, "a"), fields: { sessionId } })),
      hostile: hostile("sessions.get", asA, fc.record({ sessionId: field(own, wrongType, [9, 1, 1]) })),
    },

    "sessions.list": {
      control: fc
        .record({ type: fc.option(fc.constantFrom("active", "unresolved", "recent"), { nil: undefined }), limit: fc.option(limit(100), { nil: undefined }), cursor: fc.option(validCursor, { nil: undefined }), asAdmin: fc.boolean() })
        .map(({ asAdmin, ...rest }) =>
          call("sessions.list", true)({ auth: asAdmin ? bearer(admin, "admin") : bearer(a, "a"), fields: { userId: new Ref(a.id, a.id, "a", a.id), ...rest } }),
        ),
      hostile: hostile(
        "sessions.list",
        asA,
        fc.record({
          userId: field(userRef(a.id, users), wrongType, [9, 1, 1]),
          type: field(fc.constantFrom("active", "unresolved", "recent"), fc.oneof(hostileString, wrongType, fc.constantFrom("ACTIVE", "ended", "__proto__", "constructor", "all"))),
          limit: field(limit(100), hostileNumber),
          cursor: field(validCursor, listCursor, [2, 6, 2]),
        }),
      ),
    },

    "sessions.rename": {
      control: fc.tuple(ownExact, title).map(([sessionId, t]) => call("sessions.rename", true)({ auth: bearer(a, "a"), fields: { sessionId, title: t }, echo: { title: t.trim() } })),
      hostile: hostile("sessions.rename", asA, fc.record({ sessionId: field(own, wrongType, [9, 1, 1]), title: field(title, fc.oneof(hostileString, wrongType)) })),
    },

    "sessions.end": {
      // Only erin's sessions may end: a, b and the others keep chatting.
      control: fc
        .tuple(fc.constantFrom(...sessions.doomed), fc.option(validText(40).filter((s) => s.trim().length <= 200), { nil: undefined }))
        .map(([id, reason]) => call("sessions.end", true)({ auth: bearer(ender, "erin"), fields: { sessionId: new Ref(id, id, `doomed(${id.slice(0, 8)})`, id), reason } })),
      hostile: hostile(
        "sessions.end",
        authArb(world, ender, "erin", [[admin, "admin"], [creator, "creator"]]),
        fc.record({
          sessionId: field(sessionRef(sessions.doomed, [...sessions.a, ...sessions.b]), wrongType, [9, 1, 1]),
          reason: field(validText(40), fc.oneof(hostileString, wrongType)),
        }),
      ),
    },

    "sessions.resume": {
      control: ownExact.map((sessionId) => call("sessions.resume", true)({ auth: bearer(a, "a"), fields: { sessionId } })),
      hostile: hostile("sessions.resume", asA, fc.record({ sessionId: field(own, wrongType, [9, 1, 1]) })),
    },

    "sessions.resolve": {
      control: fc
        .tuple(ownExact, fc.option(validText(80), { nil: undefined }), fc.boolean())
        .map(([sessionId, notes, asAdmin]) => call("sessions.resolve", true)({ auth: asAdmin ? bearer(admin, "admin") : bearer(a, "a"), fields: { sessionId, notes } })),
      hostile: hostile("sessions.resolve", asA, fc.record({ sessionId: field(own, wrongType, [9, 1, 1]), notes: field(validText(80), fc.oneof(hostileString, wrongType)) })),
    },

    "messages.send": {
      control: fc
        .record({
          sessionId: ownExact,
          content: validText(120),
          clientId: fc.option(fc.uuid().map((u) => `ctl-${u}`), { nil: undefined }),
          messageType: fc.option(fc.constantFrom("text", "note", "m".repeat(32)), { nil: undefined }),
          metadata: fc.option(smallMetadata, { nil: undefined }),
        })
        .map((fields) =>
          call("messages.send", true)({
            auth: bearer(a, "a"),
            fields,
            echo: { content: fields.content, clientId: fields.clientId ?? null, messageType: fields.messageType ?? "text", metadata: fields.metadata ?? {} },
          }),
        ),
      hostile: hostile(
        "messages.send",
        authArb(world, a, "a", [[b, "b"], [admin, "admin"], [guest, "guest"]]),
        fc.record({
          sessionId: field(own, wrongType, [9, 1, 1]),
          content: field(validText(80), fc.oneof(hostileString, wrongType, fc.constantFrom("   ", "\n\t", "\u3000", "\u00a0"))),
          clientId: field(clientId, fc.oneof(hostileString, wrongType)),
          messageType: field(fc.constantFrom("text", "note"), fc.oneof(hostileString, wrongType)),
          metadata: field(smallMetadata, hostileMetadata, [4, 5, 1]),
        }),
      ),
    },

    "messages.history": {
      control: fc
        .record({
          sessionId: ownExact,
          limit: fc.option(limit(200), { nil: undefined }),
          cursor: fc.option(fc.tuple(fc.constantFrom("before", "after", "offset"), seq), { nil: undefined }),
          asAdmin: fc.boolean(),
        })
        .map(({ sessionId, limit: l, cursor, asAdmin }) =>
          call("messages.history", true)({ auth: asAdmin ? bearer(admin, "admin") : bearer(a, "a"), fields: { sessionId, limit: l, ...(cursor ? { [cursor[0]]: cursor[1] } : {}) } }),
        ),
      hostile: hostile(
        "messages.history",
        asA,
        fc.record({
          sessionId: field(own, wrongType, [9, 1, 1]),
          limit: field(limit(200), hostileNumber),
          before: field(seq, hostileNumber, [1, 2, 4]),
          after: field(seq, hostileNumber, [1, 2, 4]),
          offset: field(seq, hostileNumber, [1, 2, 4]),
        }),
      ),
    },

    "users.stats": {
      control: fc.boolean().map((asAdmin) => call("users.stats", true)({ auth: asAdmin ? bearer(admin, "admin") : bearer(a, "a"), fields: { userId: new Ref(a.id, a.id, "a", a.id) } })),
      hostile: hostile("users.stats", asA, fc.record({ userId: field(userRef(a.id, users), wrongType, [9, 1, 1]) })),
    },
  };
}

/** Every procedure's calls, `hostile` most of the time and a control group the rest. */
export function callArb(world: World, procedure: ProcedureName, controlWeight = 1, hostileWeight = 3): fc.Arbitrary<Call> {
  const { control, hostile } = calls(world)[procedure];
  return fc.oneof({ weight: controlWeight, arbitrary: control }, { weight: hostileWeight, arbitrary: hostile });
}

