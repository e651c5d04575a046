// Raw HTTP for the fuzz suite (exact methods, paths, headers and bytes; a deadline on every answer) and the checks every answer must pass.
import http from "node:http";
import { FuzzFailure, clip, genericIds } from "./runner";

/** A request exactly as it goes on the wire. */
export interface Wire {
  method: string;
  /** Path and query, sent as is (already encoded, or deliberately not). */
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface Answer {
  status: number;
  contentType: string;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: unknown;
}

/**
 * Longest URL sent. Cloudflare refuses longer ones at the edge (414) before any Worker runs, and the
 * local runtime resets the connection, so a longer URL would test the platform, not this API.
 */
export const MAX_URL = 16 * 1024;

/** Longest wait for a complete answer; longer is a hang, and a failure. */
export const ANSWER_TIMEOUT_MS = 10_000;

// A connection per request: one request's mangled framing must not be blamed on the next.
const agent = new http.Agent({ keepAlive: false, maxSockets: 8 });

export function describeWire(w: Wire, a?: Answer): string {
  const headers = Object.fromEntries(Object.entries(w.headers).map(([k, v]) => [k, clip(v, 60)]));
  const lines = [`${w.method} ${clip(w.path, 300)}`, `  headers: ${JSON.stringify(headers)}`];
  if (w.body !== undefined) lines.push(`  body: ${clip(JSON.stringify(w.body), 500)}`);
  if (a) lines.push(`→ ${a.status} ${clip(a.text, 500)}`);
  return lines.join("\n");
}

/** Sends `w`; a missing or incomplete answer within ANSWER_TIMEOUT_MS is a FuzzFailure. */
export function send(base: string, w: Wire, label: string): Promise<Answer> {
  const url = new URL(base);
  return new Promise<Answer>((resolve, reject) => {
    const fail = (why: string) => reject(new FuzzFailure(`${label}: ${why}`, describeWire(w)));
    // Node frames a GET or DELETE body only with an explicit Content-Length.
    const headers = w.body === undefined ? w.headers : { ...w.headers, "content-length": String(Buffer.byteLength(w.body)) };
    const req = http.request({ host: url.hostname, port: url.port, method: w.method, path: w.path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (err) => fail(`answer broke off (${err.message})`));
      res.on("end", () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString("utf8");
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), text, json });
      });
    });
    const timer = setTimeout(() => req.destroy(new Error("timeout")), ANSWER_TIMEOUT_MS);
    req.on("error", (err) => {
      clearTimeout(timer);
      fail(err.message === "timeout" ? `no answer within ${ANSWER_TIMEOUT_MS / 1000} s` : `connection failed (${(err as NodeJS.ErrnoException).code ?? err.message})`);
    });
    req.end(w.body);
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.trim().length > 0;

/** A REST error body: `{code, message}`, both non-empty. */
export function isRestError(v: unknown): v is { code: string; message: string } {
  return isObject(v) && nonEmpty(v.code) && nonEmpty(v.message);
}

/** A tRPC error item: `{error: {message, code, data: {code, httpStatus}}}`. */
export function trpcError(v: unknown): { message: string; code: string; httpStatus: number } | null {
  if (!isObject(v) || !isObject(v.error) || !isObject(v.error.data)) return null;
  const { message, data } = v.error;
  if (!nonEmpty(message) || !nonEmpty(data.code) || typeof data.httpStatus !== "number") return null;
  return { message, code: data.code, httpStatus: data.httpStatus };
}

const errorSummary = (a: Answer) => {
  const trpc = trpcError(a.json);
  const rest = isRestError(a.json) ? a.json : null;
  const code = trpc?.code ?? rest?.code ?? "?";
  const message = trpc?.message ?? rest?.message ?? a.text;
  return `${code} ${JSON.stringify(clip(genericIds(message), 80))}`;
};

/**
 * The properties every HTTP answer has: an answer at all (send), never 5xx, 2xx or a 4xx whose JSON
 * says what is wrong, and 2xx for a valid request. `shape` is how the route reports errors.
 */
export function checkAnswer(label: string, w: Wire, a: Answer, shape: "rest" | "trpc", control: boolean) {
  const fail = (why: string) => {
    throw new FuzzFailure(`${label}: ${why}`, describeWire(w, a));
  };
  if (a.status >= 500) fail(`HTTP ${a.status} ${errorSummary(a)}`);
  // OPTIONS is a CORS preflight: 204 and no body.
  if (w.method === "OPTIONS" && a.status === 204) {
    if (a.text !== "") fail("a 204 to OPTIONS with a body");
    return;
  }
  if (a.status >= 200 && a.status < 300) {
    if (a.json === undefined) fail(`HTTP ${a.status} without a JSON body`);
    if (shape === "trpc" && !isObject(a.json) && !Array.isArray(a.json)) fail(`HTTP ${a.status} with a body that is no tRPC result`);
    return;
  }
  if (a.status < 400 || a.status >= 500) fail(`unexpected HTTP ${a.status}`);
  if (control) fail(`valid request refused: HTTP ${a.status} ${errorSummary(a)}`);
  // tRPC's own refusals (415, 405) carry a JSON body labelled text/plain; the body is what clients read.
  if (shape === "rest" && !a.contentType.startsWith("application/json")) fail(`HTTP ${a.status} with content-type ${JSON.stringify(a.contentType)}`);
  // tRPC routes answer in tRPC's shape, except what the Hono middleware in front refuses (413, 429).
  const clear = shape === "rest" ? isRestError(a.json) : trpcError(a.json) !== null || isRestError(a.json) || (Array.isArray(a.json) && a.json.every((i) => trpcError(i)));
  if (!clear) fail(`HTTP ${a.status} without a clear error body`);
  if (shape === "trpc") {
    const items = Array.isArray(a.json) ? a.json : [a.json];
    for (const item of items) {
      const e = trpcError(item);
      if (e && e.httpStatus >= 500) fail(`tRPC error with httpStatus ${e.httpStatus} inside an HTTP ${a.status}`);
    }
  }
}

/**
 * One item of a tRPC batch answer: `{result: {data}}` or an error with httpStatus below 500; a
 * control item must be a result. Returns the data (or undefined for an error).
 */
export function checkBatchItem(label: string, w: Wire, a: Answer, item: unknown, control: boolean): unknown {
  const fail = (why: string) => {
    throw new FuzzFailure(`${label}: ${why}`, `${describeWire(w, a)}\n  item: ${clip(JSON.stringify(item) ?? "undefined", 400)}`);
  };
  if (isObject(item) && isObject(item.result) && "data" in item.result) return item.result.data;
  const e = trpcError(item);
  if (!e) fail("batch item is neither a result nor a tRPC error");
  if (e!.httpStatus >= 500) fail(`batch item failed with ${e!.httpStatus} ${e!.code} ${JSON.stringify(clip(genericIds(e!.message), 80))}`);
  if (control) fail(`valid batch item refused: ${e!.httpStatus} ${e!.code} ${JSON.stringify(clip(genericIds(e!.message), 80))}`);
  return undefined;
}

/**
 * A value as canonical JSON text (sorted keys), built without recursion: metadata may be nested
 * thousands of levels, deeper than a recursive comparison can follow on a test worker's stack.
 */
export function canonical(root: unknown): string {
  const out: string[] = [];
  const stack: ({ text: string } | { value: unknown })[] = [{ value: root }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if ("text" in item) {
      out.push(item.text);
      continue;
    }
    const v = item.value;
    if (Array.isArray(v)) {
      stack.push({ text: "]" });
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({ value: v[i] === undefined ? null : v[i] });
        if (i > 0) stack.push({ text: "," });
      }
      stack.push({ text: "[" });
    } else if (v !== null && typeof v === "object") {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
      stack.push({ text: "}" });
      for (let i = keys.length - 1; i >= 0; i--) {
        stack.push({ value: o[keys[i]!] });
        stack.push({ text: `${JSON.stringify(keys[i])}:` });
        if (i > 0) stack.push({ text: "," });
      }
      stack.push({ text: "{" });
    } else {
      out.push(JSON.stringify(v) ?? "null");
    }
  }
  return out.join("");
}

/** Equal as JSON documents (key order aside). */
export const sameJson = (a: unknown, b: unknown) => canonical(a) === canonical(b);

/** Checks that `data` echoes each expected field (as JSON: key order aside, exactly). */
export function checkEcho(label: string, w: Wire, data: unknown, echo: Record<string, unknown>) {
  const got = isObject(data) ? data : {};
  for (const [key, want] of Object.entries(echo)) {
    if (!sameJson(got[key], want)) {
      throw new FuzzFailure(
        `${label}: answer does not echo ${key}`,
        `${describeWire(w)}\n  sent ${key}: ${clip(canonical(want), 300)}\n  got  ${key}: ${clip(canonical(got[key]), 300)}`,
      );
    }
  }
}
