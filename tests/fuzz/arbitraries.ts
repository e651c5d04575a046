// Generators of what hostile clients send: odd ids, numbers, cursors, unicode, deep and broken JSON, tokens.
import fc from "fast-check";
import { randomUUID } from "node:crypto";

// ---- values that print short ---------------------------------------------------------------------

/** JSON text spliced into a document as is (deep nesting, broken JSON, 1e400); prints as its label. */
export class Raw {
  constructor(
    readonly text: string,
    readonly label: string = text.length <= 80 ? `Raw(${JSON.stringify(text)})` : `Raw(${JSON.stringify(text.slice(0, 40))}… ${text.length} chars)`,
  ) {}
  [fc.toStringMethod]() {
    return this.label;
  }
}

/**
 * A path parameter: `value` is what it means in a JSON input (tRPC, bodies), `segment` how it is
 * spelled in a REST path (already encoded, or deliberately not), `canonical` the real id it spells.
 */
export class Ref {
  constructor(
    readonly value: unknown,
    readonly segment: string,
    readonly label: string,
    readonly canonical: string | null = null,
  ) {}
  [fc.toStringMethod]() {
    return this.label;
  }
}

/** Serialises a generated value to JSON text; `undefined` members are left out, Raw is spliced in. */
export function toJson(v: unknown): string {
  if (v instanceof Raw) return v.text;
  if (v instanceof Ref) return toJson(v.value);
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? "null" : toJson(x))).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    const members = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${toJson(o[k])}`);
    return `{${members.join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** How a generated value reads in a query string (strings as they are; the rest as JSON text). */
export function queryText(v: unknown): string {
  if (v instanceof Ref) return queryText(v.value);
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  return toJson(v);
}

/**
 * Percent-encodes every byte outside the unreserved set. Lone surrogates become U+FFFD (what a UTF-8
 * encoder does); in JSON bodies they travel as \uXXXX escapes instead.
 */
export function pct(s: string): string {
  let out = "";
  for (const byte of Buffer.from(s, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

// ---- strings ----------------------------------------------------------------------------------------

/** Characters that break naive code: NUL, lone surrogates, direction marks, separators, emoji, combining. */
export const EDGE_CHARS = [
  "\u0000", "\ud800", "\udbff", "\udc00", "\udfff", "\u200e", "\u200f", "\u202e", "\u2066", "\u2028", "\u2029",
  "\ufeff", "\ufffe", "\uffff", "\u{1F600}", "\u{1F3F3}\uFE0F\u200D\u{1F308}", "e\u0301", "\u0301\u0301\u0301",
  "\u{10FFFF}", "\r\n", "\t", "\u0085", "\u00a0", "\u3000", "\\", "\"", "'", "`", "<script>", "%00", "%", "${x}",
  "' OR 1=1 --", "\u001b[31m", "\u0008", "\u007f", "ﷺ", "\u0e01\u0e34\u0e4a", "𝔘𝔫𝔦", "Ω", "İ", "ß", "\uD83D",
];

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/** One unit of hostile text: mostly printable graphemes, sometimes edge characters and raw code points. */
export const textUnit = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }) },
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_CHARS) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: loneSurrogate },
);

/** Hostile text of `minLength..maxLength` units. */
export const text = (maxLength = 40, minLength = 0) => fc.string({ unit: textUnit, minLength, maxLength });

const wellFormed = (s: string) => s.isWellFormed();
/** One unit of text every server must take: printable graphemes and the well-formed edge characters, no NUL. */
const validUnit = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }) },
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_CHARS.filter((c) => wellFormed(c) && !c.includes("\u0000"))) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }).filter((c) => c !== "\u0000") },
);
/**
 * Text a server must accept and store as is: not blank, no NUL, no lone surrogates (a server may
 * fairly refuse those; the hostile generators send them, and what is accepted must still be kept intact).
 */
export const validText = (maxLength = 60) => fc.string({ unit: validUnit, minLength: 1, maxLength }).filter((s) => s.trim().length > 0);

/** Text that fits an HTTP header or a WebSocket subprotocol list: visible ASCII, sometimes Latin-1. */
export const headerSafeText = (maxLength = 60) =>
  fc.string({ unit: fc.oneof({ weight: 9, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) }, { weight: 1, arbitrary: fc.integer({ min: 0xa0, max: 0xff }).map((c) => String.fromCharCode(c)) }), maxLength });

/** A long string, printed by its recipe rather than in full. */
export const longString = fc
  .tuple(fc.constantFrom("a", "é", "\u{1F600}", " ", "\ud800", "\u0000", "x "), fc.constantFrom(129, 201, 2_001, 4_097, 8_193, 20_000, 70_000))
  .map(([unit, n]) => new Raw(JSON.stringify(unit.repeat(n)), `string(${JSON.stringify(unit)}×${n})`));

/** Keys that poke at object handling: prototype keys, empty, huge, unicode, dotted. */
export const hostileKey = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf", "__defineGetter__", "then") },
  { weight: 1, arbitrary: fc.constantFrom("", " ", "a.b", "a[0]", "$where", "\u0000", "\ud800", "k".repeat(300), "1", "-1", "NaN", "length") },
  { weight: 3, arbitrary: text(12) },
);

// ---- numbers ----------------------------------------------------------------------------------------

/** Numbers (and number-like text) out of range, fractional, or oddly spelled. */
export const hostileNumber: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 2 ** 63, -1, -0, 0, 1, 1e308, -1e308, 1.5, 0.1, 5e-324, -(2 ** 31), 100, 101, 200, 201),
  fc.constantFrom("NaN", "Infinity", "-Infinity", " 1", "1 ", " 7 ", "0x10", "0b11", "1e3", "1e400", "1_000", "", " ", "01", "+1", "-0", "٣", "１", "2147483648", "9007199254740993", "1.0", "2.5", "\t7\n", "1,2", "null", "true", "[1]"),
  fc.constantFrom(new Raw("1e400"), new Raw("-1e400"), new Raw("1.0"), new Raw("-0"), new Raw("9007199254740993"), new Raw("123456789012345678901234567890"), new Raw("1E2"), new Raw("2e-400")),
  fc.integer(),
  fc.integer({ min: 2 ** 31, max: Number.MAX_SAFE_INTEGER }),
  fc.integer({ min: 2 ** 31, max: Number.MAX_SAFE_INTEGER }).map(String),
  fc.double(),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map((n) => new Raw(n.toString())),
);

// ---- JSON documents ---------------------------------------------------------------------------------

export type DeepShape = "object" | "array" | "mixed";

/** JSON nested `depth` levels, built as text without recursion (so the test itself cannot overflow). */
export function deepJson(depth: number, shape: DeepShape, leaf = "1"): string {
  const open: string[] = [];
  const close: string[] = [];
  for (let i = 0; i < depth; i++) {
    const array = shape === "array" || (shape === "mixed" && i % 2 === 1);
    open.push(array ? "[" : '{"a":');
    close.push(array ? "]" : "}");
  }
  return open.join("") + leaf + close.reverse().join("");
}

/**
 * Deeply nested JSON, 1..5000 levels. Shrinks toward the shallow end of each band, so a failure
 * reports (close to) the smallest depth that fails.
 */
export const deep = fc
  .tuple(
    fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 1, max: 64 }) },
      { weight: 2, arbitrary: fc.integer({ min: 900, max: 1400 }) },
      { weight: 2, arbitrary: fc.integer({ min: 1400, max: 4500 }) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 5000 }) },
    ),
    fc.constantFrom<DeepShape>("object", "array", "mixed"),
  )
  .map(([depth, shape]) => new Raw(deepJson(depth, shape), `deep(${shape}, ${depth} levels)`));

/** A deep JSON *object* (what a metadata field accepts), nested inside a key or at the top. */
export const deepObject = fc
  .tuple(deep, fc.boolean())
  .map(([d, top]) => (top && d.text.startsWith("{") ? d : new Raw(`{"nested":${d.text}}`, `{nested: ${d.label}}`)));

/** JSON that does not parse, or parses into something surprising. */
export const brokenJson = fc.constantFrom(
  new Raw("{"), new Raw("}"), new Raw('{"content":'), new Raw('{"a":1,}'), new Raw("{'a':1}"), new Raw('{"a":undefined}'),
  new Raw("NaN"), new Raw("[1,]"), new Raw('{"a":1}{"b":2}'), new Raw('"\\ud800"'), new Raw('"\\u0000"'), new Raw('"\\x41"'),
  new Raw("\ufeff{}"), new Raw('{"a":01}'), new Raw("tru"), new Raw(""), new Raw("  "), new Raw("/* */ {}"), new Raw('{"__proto__":{"admin":true}}'),
  new Raw('{"a":1,"a":2}'), new Raw('{"constructor":{"prototype":{"x":1}}}'), new Raw("[".repeat(10_000)), new Raw('{"a":"\\uD800\\uDC00"}'),
);

/** Plain JSON values with hostile strings, a few levels deep. */
export const jsonValue = fc.jsonValue({ maxDepth: 3, stringUnit: textUnit });
/** Plain JSON values any server must store as they are. */
export const validJsonValue = fc.jsonValue({ maxDepth: 3, stringUnit: validUnit });

/** A small object with hostile keys and values (prototype keys, unicode, numbers). */
export const hostileObject = fc.array(fc.tuple(hostileKey, fc.oneof(jsonValue, hostileNumber, longString)), { maxLength: 5 }).map(objectOf);

/** Defines members one by one, so `__proto__` is a member, as JSON.parse would make it. */
export function objectOf(entries: [string, unknown][]) {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true });
  return o;
}

/**
 * Metadata every server must take and keep: plain keys, well-formed strings, a few levels, well under
 * 8 KiB. No `__proto__` key anywhere (fast-check likes to generate one): a server may fairly refuse it.
 */
export const validMetadata = fc
  .array(fc.tuple(fc.string({ maxLength: 10 }), validJsonValue), { maxLength: 4 })
  .map(objectOf)
  .filter((m) => {
    const json = JSON.stringify(m);
    return Buffer.byteLength(json) <= 6_000 && !json.includes('"__proto__":');
  });

/** Metadata that passes for an object but is odd: prototype keys, lone surrogates, NUL, unicode keys. */
export const oddMetadata = fc
  .array(fc.tuple(hostileKey, jsonValue), { maxLength: 4 })
  .map(objectOf)
  .filter((m) => JSON.stringify(m).length <= 8_000);

/** A value of the wrong type for any field. */
export const wrongType: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, [], {}, "", " ", "null", "undefined", "[object Object]"),
  hostileNumber,
  fc.array(jsonValue, { maxLength: 3 }),
  hostileObject,
  deep,
  brokenJson,
  longString,
);

// ---- session ids --------------------------------------------------------------------------------

const noHyphens = (id: string) => id.replaceAll("-", "");
const encodeAll = (s: string) => [...Buffer.from(s, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");

/** Ways to spell a real session id: case, braces, urn, whitespace, encodings, path tricks. */
export function spellings(id: string): fc.Arbitrary<Ref> {
  const r = (value: unknown, segment: string, label: string) => new Ref(value, segment, label, id);
  const short = id.slice(0, 8);
  return fc.oneof(
    fc.constant(r(id.toUpperCase(), id.toUpperCase(), `UPPER(${short})`)),
    fc.mixedCase(fc.constant(id)).map((s) => r(s, s, `mixed(${s})`)),
    fc.constant(r(`{${id}}`, pct(`{${id}}`), `{${short}…}`)),
    fc.constant(r(noHyphens(id), noHyphens(id), `nohyphens(${short})`)),
    fc.constant(r(`urn:uuid:${id}`, pct(`urn:uuid:${id}`), `urn:uuid:${short}`)),
    fc.constantFrom(" ", "\t", "\n", "\u00a0", "\ufeff", "\u200b").chain((ws) =>
      fc.constantFrom(r(`${ws}${id}`, pct(`${ws}${id}`), `ws-before(${short})`), r(`${id}${ws}`, pct(`${id}${ws}`), `ws-after(${short})`)),
    ),
    fc.constant(r(id, encodeAll(id), `pct-all(${short})`)),
    fc.constant(r(`${id}\u0000`, pct(`${id}\u0000`), `nul(${short})`)),
    fc.constant(r(`${id}/`, `${id}%2F`, `slash(${short})`)),
    fc.constant(r(`${id}/..`, `${id}/..`, `dotdot-after(${short})`)),
    fc.constant(r(id.replace(/-/g, "\u2010"), pct(id.replace(/-/g, "\u2010")), `unicode-hyphens(${short})`)),
    fc.constant(r(id.repeat(300), id.repeat(300), `repeat300(${short})`)),
    fc.constant(r(`${id}x`, `${id}x`, `trailing-char(${short})`)),
  );
}

/** Ids that name no session of ours: random and boundary UUIDs, garbage, path tricks. */
export const strangerId: fc.Arbitrary<Ref> = fc.oneof(
  { weight: 3, arbitrary: fc.uuid().map((u) => new Ref(u, u, `random(${u.slice(0, 8)})`)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
      "00000000-0000-4000-8000-000000000000", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
      "------------------------------------", "0000000000000000000000000000000000-0", "12345678-1234-1234-1234-1234567890123",
    ).map((u) => new Ref(u, pct(u), `id(${u})`)),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      new Ref("..", "..", ".."), new Ref(".", ".", "."), new Ref("..", "%2e%2e", "%2e%2e"), new Ref("../..", "..%2F..", "..%2F.."),
      new Ref("", "", "empty"), new Ref(" ", "%20", "space"), new Ref("null", "null", "null"), new Ref("undefined", "undefined", "undefined"),
      new Ref("%zz", "%zz", "bad-percent"), new Ref("%", "%", "lone-percent"), new Ref("a".repeat(10_000), "a".repeat(10_000), "a×10000"),
      new Ref("ws", "ws", "ws"), new Ref("__proto__", "__proto__", "__proto__"), new Ref("constructor", "constructor", "constructor"),
    ),
  },
  { weight: 2, arbitrary: text(40).map((s) => new Ref(s, pct(s), `text(${JSON.stringify(s)})`)) },
  { weight: 1, arbitrary: wrongType.map((v) => new Ref(v, pct(queryText(v)).slice(0, 2000), `wrong(${fc.stringify(v).slice(0, 60)})`)) },
);

/** A session id: one of `own` exactly (most often), odd spellings of these, others' ids, strangers. */
export function sessionRef(own: string[], others: string[]): fc.Arbitrary<Ref> {
  const exact = (ids: string[], who: string) => fc.constantFrom(...ids).map((id) => new Ref(id, id, `${who}(${id.slice(0, 8)})`, id));
  return fc.oneof(
    { weight: 10, arbitrary: exact(own, "own") },
    { weight: 4, arbitrary: fc.constantFrom(...own).chain(spellings) },
    { weight: 2, arbitrary: exact(others, "other") },
    { weight: 1, arbitrary: fc.constantFrom(...others).chain(spellings) },
    { weight: 3, arbitrary: strangerId },
  );
}

/** A user id in a path: the caller's, someone else's, or a hostile string. */
export function userRef(self: string, others: string[]): fc.Arbitrary<Ref> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant(new Ref(self, pct(self), "self", self)) },
    { weight: 2, arbitrary: fc.constantFrom(...others).map((u) => new Ref(u, pct(u), `user(${u})`, u)) },
    { weight: 1, arbitrary: fc.constant(new Ref(self.toUpperCase(), pct(self.toUpperCase()), "SELF")) },
    { weight: 1, arbitrary: fc.constant(new Ref(` ${self}`, pct(` ${self}`), "ws-self")) },
    { weight: 3, arbitrary: strangerId },
    { weight: 1, arbitrary: longString.map((s) => new Ref(JSON.parse(s.text) as string, pct(JSON.parse(s.text) as string).slice(0, 12_000), s.label)) },
  );
}

// ---- list cursors -------------------------------------------------------------------------------

const b64 = (s: string, pad: boolean) => {
  const out = Buffer.from(s, /^[\u0000-\u00ff]*$/.test(s) ? "latin1" : "utf8").toString("base64");
  return pad ? out : out.replace(/=+$/, "");
};
const inRangeDate = fc.date({ min: new Date("1970-01-01T00:00:00Z"), max: new Date("2100-01-01T00:00:00Z"), noInvalidDate: true });
const cursor = (at: string, id: string, label: string) =>
  fc.boolean().map((pad) => new Ref(b64(`${at}|${id}`, pad), pct(b64(`${at}|${id}`, pad)), `cursor(${label})`));

/** A cursor the server itself could have made: an in-range date and a UUID. */
export const validCursor = fc.tuple(inRangeDate, fc.uuid()).chain(([d, id]) => cursor(d.toISOString(), id, `${d.toISOString()}|${id.slice(0, 8)}`));

/** `sessions.list` cursors: valid, ids that pass /^[0-9a-f-]{36}$/ but are no UUID, dates out of range, garbage. */
export const listCursor: fc.Arbitrary<Ref> = fc.oneof(
  { weight: 2, arbitrary: validCursor },
  {
    weight: 2,
    arbitrary: fc
      .tuple(inRangeDate, fc.stringMatching(/^[0-9a-f-]{36}$/))
      .chain(([d, id]) => cursor(d.toISOString(), id, `${d.toISOString()}|${id}`)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.oneof(
          fc.constantFrom("-271821-04-20T00:00:00.000Z", "+275760-09-13T00:00:00.000Z", "-004714-11-23T00:00:00.000Z", "-004713-11-24T00:00:00.000Z", "+300000-01-01T00:00:00.000Z", "-001000-01-01T00:00:00.000Z", "0000-01-01T00:00:00.000Z", "+294277-01-01T00:00:00.000Z"),
          fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }).map((d) => d.toISOString()),
        ),
        fc.uuid(),
      )
      .chain(([at, id]) => cursor(at, id, `${at}|${id.slice(0, 8)}`)),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom("2020", "1", "0", "Tue Mar 01 2022", "2020-02-30T00:00:00Z", "2020-01-01T24:00:00Z", " 2020-01-01 ", "2020-01-01T00:00:00+14:00", "", "Invalid Date", "1e20"), fc.uuid())
      .chain(([at, id]) => cursor(at, id, `${at}|${id.slice(0, 8)}`)),
  },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.base64String({ maxLength: 80 }),
      fc.string({ maxLength: 60 }),
      text(30),
      fc.constantFrom("====", "|", "a|b|c", "-_-_", "%%%", "A".repeat(201), b64("|", false), b64(`${new Date().toISOString()}|`, false), b64(`|${randomUUID()}`, false)),
      fc.uint8Array({ maxLength: 60 }).map((bytes) => Buffer.from(bytes).toString("base64")),
    ).map((s) => new Ref(s, pct(s), `garbage(${JSON.stringify(s.slice(0, 40))})`)),
  },
  { weight: 1, arbitrary: wrongType.map((v) => new Ref(v, pct(queryText(v)).slice(0, 2000), `wrong(${fc.stringify(v).slice(0, 60)})`)) },
);

// ---- bodies and content types --------------------------------------------------------------------

/** Content types for a JSON body: mostly right, sometimes wrong, missing, or multipart. */
export const contentType = fc.oneof(
  { weight: 12, arbitrary: fc.constant("application/json") },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "application/json; charset=utf-8", "APPLICATION/JSON", "application/json;charset=latin1", "application/jsonp", "text/json",
      "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=fz",
      "multipart/form-data", "application/octet-stream", "", "*/*", "application/xml", "application/json, text/plain",
    ),
  },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

/** A multipart body with the given JSON as one part (what a form post of the input would look like). */
export function multipart(json: string): string {
  return `--fz\r\nContent-Disposition: form-data; name="input"\r\n\r\n${json}\r\n--fz\r\nContent-Disposition: form-data; name="content"\r\n\r\nhello\r\n--fz--\r\n`;
}

export const randomId = () => randomUUID();

/** Hostile text for a string field: unicode edge cases, NUL, blank, very long. */
export const hostileString = fc.oneof(text(30), longString, fc.constantFrom("", " ", "   ", "\u0000", "a\u0000b", "\u2028", "\ud800"));

/** Metadata no server should store: odd objects, wrong types, nesting up to 5000 levels, too big, NUL. */
export const hostileMetadata = fc.oneof(
  oddMetadata,
  wrongType,
  deepObject,
  deepObject,
  longString.map((s) => new Raw(`{"big":${s.text}}`, `{big: ${s.label}}`)),
  fc.constant(new Raw('{"k":"\\u0000"}')),
);

/** A field: usually valid, sometimes hostile, sometimes left out (undefined). */
export function field(valid: fc.Arbitrary<unknown>, hostile: fc.Arbitrary<unknown>, weights: [number, number, number] = [6, 3, 1]) {
  return fc.oneof(
    { weight: weights[0], arbitrary: valid },
    { weight: weights[1], arbitrary: hostile },
    { weight: weights[2], arbitrary: fc.constant(undefined) },
  );
}

/** Members nobody asked for: prototype keys and junk, with values of any type (mostly none). */
export const extras = fc
  .oneof({ weight: 5, arbitrary: fc.constant<[string, unknown][]>([]) }, { weight: 2, arbitrary: fc.array(fc.tuple(hostileKey, wrongType), { maxLength: 3 }) })
  .map(objectOf);
