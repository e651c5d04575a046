// Session ids: the canonical spelling and the tag that tells issued ids from guesses.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isIssuedSessionId, issueSessionId, sessionIdSchema } from "../../worker/session-id";

const secret = "unit-test-secret-0123456789";

describe("session ids", () => {
  it("issues RFC 9562 version 8 UUIDs that verify under the same secret only", async () => {
    const ids = await Promise.all(Array.from({ length: 200 }, () => issueSessionId(secret)));
    expect(new Set(ids).size).toBe(200);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(await isIssuedSessionId(id, secret)).toBe(true);
      expect(await isIssuedSessionId(id, `${secret}-rotated`)).toBe(false);
    }
  });

  it("rejects random UUIDs and any id with one bit of its tag or random part changed", async () => {
    const id = await issueSessionId(secret);
    for (let i = 0; i < 50; i++) expect(await isIssuedSessionId(randomUUID(), secret)).toBe(false);
    const hex = id.replaceAll("-", "");
    for (const pos of [0, 5, 13, 17, 20, 31]) {
      const flipped = hex.slice(0, pos) + ((parseInt(hex[pos]!, 16) ^ 1).toString(16)) + hex.slice(pos + 1);
      const uuid = `${flipped.slice(0, 8)}-${flipped.slice(8, 12)}-${flipped.slice(12, 16)}-${flipped.slice(16, 20)}-${flipped.slice(20)}`;
      expect(await isIssuedSessionId(uuid, secret), `flip at ${pos}`).toBe(false);
    }
  });

  it("folds case to one spelling and refuses anything but a hyphenated UUID", () => {
    expect(sessionIdSchema.parse("0196F5A0-8C3B-8ABC-9DEF-0123456789AB")).toBe("0196f5a0-8c3b-8abc-9def-0123456789ab");
    for (const bad of ["{0196f5a0-8c3b-8abc-9def-0123456789ab}", "0196f5a08c3b8abc9def0123456789ab", " 0196f5a0-8c3b-8abc-9def-0123456789ab", "0196f5a0-8c3b-8abc-9def-0123456789ag"]) {
      expect(sessionIdSchema.safeParse(bad).success, bad).toBe(false);
    }
  });
});
