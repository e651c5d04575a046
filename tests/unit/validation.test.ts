// checkJson and text(): what client JSON and text must be to be storable, without a runtime.
import { describe, expect, it } from "vitest";
import { checkJson, text, unstorable } from "../../worker/validation";

const limits = { maxDepth: 4, maxBytes: 64 };
const nested = (depth: number): unknown => {
  let v: unknown = {};
  for (let i = 1; i < depth; i++) v = { a: v };
  return v;
};

describe("checkJson", () => {
  it("counts depth from 1 for the object itself and accepts exactly the limit", () => {
    expect(checkJson(nested(4), limits, "m")).toEqual({ ok: true, bytes: JSON.stringify(nested(4)).length });
    expect(checkJson(nested(5), limits, "m")).toEqual({ ok: false, code: "BAD_REQUEST", message: "m is nested more than 4 levels deep" });
    expect(checkJson({ a: [[[1]]] }, limits, "m").ok).toBe(true);
    expect(checkJson({ a: [[[[1]]]] }, limits, "m").ok).toBe(false);
  });

  it("stops at the first level past the limit, so a value nested 1,000,000 deep costs no stack", () => {
    let v: unknown = [];
    for (let i = 0; i < 1_000_000; i++) v = [v];
    expect(checkJson({ v }, { maxDepth: 16, maxBytes: 1e9 }, "m")).toMatchObject({ ok: false, code: "BAD_REQUEST" });
  });

  it("measures size in UTF-8 bytes after the walk", () => {
    expect(checkJson({ s: "é".repeat(26) }, limits, "m")).toEqual({ ok: true, bytes: 60 });
    expect(checkJson({ s: "é".repeat(28) }, limits, "m")).toEqual({ ok: true, bytes: 64 });
    expect(checkJson({ s: "é".repeat(29) }, limits, "m")).toEqual({ ok: false, code: "PAYLOAD_TOO_LARGE", message: "m is 66 bytes of JSON; the limit is 64" });
  });

  it("names the path of a string Postgres cannot store, in values and keys", () => {
    expect(checkJson({ a: { b: ["ok", "x\ud800"] } }, limits, "metadata")).toMatchObject({ ok: false, message: "metadata.a.b[1] must be well-formed Unicode (no lone surrogates)" });
    expect(checkJson({ "k\u0000": 1 }, limits, "metadata")).toMatchObject({ ok: false, message: "metadata keys must not contain NUL (\\u0000) characters" });
    expect(checkJson(JSON.parse('{"__proto__": 1}'), limits, "metadata")).toMatchObject({ ok: false, message: "metadata keys must not be __proto__" });
    expect(checkJson({ emoji: "👍", rtl: "\u202e", ls: "\u2028" }, limits, "metadata").ok).toBe(true);
  });
});

describe("text()", () => {
  it("refuses NUL and lone surrogates and keeps surrogate pairs", () => {
    expect(unstorable("a\u0000b")).toMatch(/NUL/);
    expect(unstorable("\udc00")).toMatch(/well-formed/);
    expect(unstorable("\ud83d\udc4d")).toBeNull();
    expect(text().safeParse("\ud800").success).toBe(false);
    expect(text().safeParse("👍 \u202e").success).toBe(true);
  });
});
