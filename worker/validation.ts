// What client-supplied text and JSON must be to be storable in both SQLite and Postgres; pure, no I/O.
// Shared by the Worker, the session object and client/ (it imports zod only).
import * as z from "zod";

/** The largest seq (a Postgres integer): a cursor past it names nothing and is refused, not sent on. */
export const MAX_SEQ = 2_147_483_647;

/**
 * Why a string cannot be stored, or null. Postgres text and jsonb hold no NUL, and jsonb refuses a
 * lone UTF-16 surrogate (SQLite would take it, and the outbox could then never write the row).
 */
export function unstorable(s: string): string | null {
  if (s.includes("\u0000")) return "must not contain NUL (\\u0000) characters";
  if (!s.isWellFormed()) return "must be well-formed Unicode (no lone surrogates)";
  return null;
}

/**
 * A client-supplied JSON object, passed through as sent: no copy (a copy would silently drop a
 * `__proto__` key) and no recursion (see `checkJson`, which the caller runs with its configured limits).
 */
export const jsonObject = () =>
  z
    .unknown()
    .refine((v) => typeof v === "object" && v !== null && !Array.isArray(v), "must be a JSON object")
    .meta({ override: { type: "object", additionalProperties: true } }) as unknown as z.ZodType<Record<string, unknown>>;

/** Client-supplied text: storable (see `unstorable`). */
export const text = () =>
  z.string().superRefine((s, ctx) => {
    const why = unstorable(s);
    if (why) ctx.addIssue({ code: "custom", message: why });
  });

export interface JsonLimits {
  /** Deepest nesting accepted: `{}` is depth 1, `{"a":{}}` depth 2. */
  maxDepth: number;
  /** Largest serialised size, in UTF-8 bytes. */
  maxBytes: number;
}

export type JsonVerdict =
  | { ok: true; bytes: number }
  | { ok: false; code: "BAD_REQUEST" | "PAYLOAD_TOO_LARGE"; message: string };

/**
 * Checks a parsed JSON value against the limits before anything serialises, clones or stores it.
 * The walk is iterative and stops at the first level past `maxDepth`, so a value nested
 * thousands deep costs no stack and little time; only then is it serialised to measure its size.
 */
export function checkJson(value: unknown, limits: JsonLimits, field: string): JsonVerdict {
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: value, depth: 0, path: field }];
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop()!;
    if (typeof v === "string") {
      const why = unstorable(v);
      if (why) return { ok: false, code: "BAD_REQUEST", message: `${path} ${why}` };
      continue;
    }
    if (typeof v === "number" && !Number.isFinite(v)) return { ok: false, code: "BAD_REQUEST", message: `${path} must be a finite number` };
    if (typeof v !== "object" || v === null) continue;
    if (depth + 1 > limits.maxDepth) {
      return { ok: false, code: "BAD_REQUEST", message: `${field} is nested more than ${limits.maxDepth} levels deep` };
    }
    for (const [key, child] of Object.entries(v)) {
      const why = key === "__proto__" ? "must not be __proto__" : unstorable(key);
      if (why) return { ok: false, code: "BAD_REQUEST", message: `${path} keys ${why}` };
      stack.push({ v: child, depth: depth + 1, path: Array.isArray(v) ? `${path}[${key}]` : `${path}.${key}` });
    }
  }
  const bytes = new TextEncoder().encode(JSON.stringify(value)).byteLength;
  if (bytes > limits.maxBytes) {
    return { ok: false, code: "PAYLOAD_TOO_LARGE", message: `${field} is ${bytes} bytes of JSON; the limit is ${limits.maxBytes}` };
  }
  return { ok: true, bytes };
}
