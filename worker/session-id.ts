// Session ids: one canonical spelling, and a tag that lets the edge tell an id it issued from a guess.
//
// A session's Durable Object is addressed by its id, and addressing an object creates it. So an id
// must have one spelling (upper and lower case must not reach two objects), and a request naming a
// session that was never created must not reach an object at all. Ids issued here are RFC 9562
// UUIDv8: 60 random bits and a 62-bit HMAC-SHA256 tag over them, keyed by SESSION_ID_SECRET.
// Checking the tag costs no I/O; an id without a valid tag (imported from another system, or
// issued under a rotated secret) is looked up in Postgres before any object is touched.
import * as z from "zod";

/** The one spelling of a session id: a hyphenated UUID in lower case. Other spellings are folded to it. */
export const sessionIdSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, "sessionId must be a UUID")
  .transform((s) => s.toLowerCase());

const keys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", new TextEncoder().encode(`edge-chat session id v1:${secret}`), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keys.set(secret, key);
  }
  return key;
}

/** The tag for the first 8 bytes (random bits and version), in bytes 8..15 with the RFC 9562 variant bits. */
async function tag(head: Uint8Array, secret: string): Promise<Uint8Array> {
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), head));
  const out = mac.slice(0, 8);
  out[0] = (out[0]! & 0x3f) | 0x80;
  return out;
}

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

function toUuid(bytes: Uint8Array): string {
  const h = hex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A new session id carrying this deployment's tag. */
export async function issueSessionId(secret: string): Promise<string> {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes.subarray(0, 8));
  bytes[6] = (bytes[6]! & 0x0f) | 0x80; // version 8
  bytes.set(await tag(bytes.subarray(0, 8), secret), 8);
  return toUuid(bytes);
}

/** True when `id` (canonical spelling) was issued with `secret`. Constant time in the tag. */
export async function isIssuedSessionId(id: string, secret: string): Promise<boolean> {
  const h = id.replaceAll("-", "");
  if (h.length !== 32 || h[12] !== "8") return false;
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = parseInt(h.slice(i * 2, i * 2 + 2), 16);
  const expected = await tag(bytes.subarray(0, 8), secret);
  let diff = 0;
  for (let i = 0; i < 8; i++) diff |= expected[i]! ^ bytes[8 + i]!;
  return diff === 0;
}
