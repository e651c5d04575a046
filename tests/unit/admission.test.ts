// Admission and frame parsing: who may write, when a session takes a message, what a frame must be.
import { describe, expect, it } from "vitest";
import type { Session } from "../../worker/schemas";
import { admit, afterMessage, newMessage, mayWrite } from "../../worker/session/admission";
import { parseClientFrame } from "../../worker/session/frames";
import { flushBackoffMs } from "../../worker/session/outbox";

const now = Date.parse("2026-11-23T12:00:00Z");
const session: Session = {
  id: "5f0c8f0e-0000-4000-8000-000000000001", userId: "alice", agentType: "primary", title: null, status: "active",
  messageCount: 2, lastSeq: 2, lastActivityAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString(),
  resolvedAt: null, resolutionNotes: null, endedAt: null, endedReason: null, metadata: {}, context: {}, handler: "agent", handlerUserId: null, handlerSince: null,
  createdAt: new Date(now - 60_000).toISOString(), updatedAt: new Date(now - 1000).toISOString(),
};
const limits = { MAX_CONTENT_BYTES: 8, MESSAGE_RATE_PER_MINUTE: 60, MESSAGE_BURST: 2 };

describe("admission", () => {
  it("lets only the owner write, and only content within the byte limit", () => {
    expect(mayWrite(session, { id: "alice", role: "user" }, "hi", limits)).toEqual({ ok: true, author: "customer" });
    expect(mayWrite(session, { id: "root", role: "admin" }, "hi", limits)).toMatchObject({ code: "FORBIDDEN" });
    expect(mayWrite(session, { id: "bob", role: "user" }, "hi", limits)).toMatchObject({ code: "FORBIDDEN" });
    // While a human holds the session, staff reply into it.
    const held = { ...session, handler: "human" as const };
    expect(mayWrite(held, { id: "root", role: "admin" }, "hi", limits)).toEqual({ ok: true, author: "staff" });
    expect(mayWrite(held, { id: "bob", role: "user" }, "hi", limits)).toMatchObject({ code: "FORBIDDEN" });
    expect(mayWrite(session, { id: "alice", role: "user" }, "ééééé", limits)).toMatchObject({ code: "PAYLOAD_TOO_LARGE", error: "content is 10 bytes; the limit is 8" });
  });

  it("refuses ended and expired sessions, and sessions past their expiry", () => {
    expect(admit({ ...session, status: "ended" }, 0, now, limits)).toMatchObject({ code: "CONFLICT", error: "session is ended; it no longer accepts messages" });
    expect(admit({ ...session, status: "expired" }, 0, now, limits)).toMatchObject({ code: "CONFLICT" });
    expect(admit({ ...session, expiresAt: new Date(now).toISOString() }, 0, now, limits)).toMatchObject({ code: "CONFLICT", error: "session is expired; it no longer accepts messages" });
  });

  it("takes a burst, then refuses with the wait until the next message fits", () => {
    let tat = 0;
    for (let i = 0; i < limits.MESSAGE_BURST; i++) {
      const a = admit(session, tat, now, limits);
      expect(a.ok).toBe(true);
      if (a.ok) tat = a.tat;
    }
    const refused = admit(session, tat, now, limits);
    expect(refused).toMatchObject({ ok: false, code: "TOO_MANY_REQUESTS" });
    expect(refused.ok === false && refused.retryAfterMs).toBeGreaterThan(0);
  });

  it("numbers a message after the last one and reactivates an idle or resolved session", () => {
    const m = newMessage(session, { id: "alice", role: "user" }, { clientId: "c1", content: "hi", messageType: "text", metadata: { a: 1 } }, now);
    expect(m).toMatchObject({ seq: 3, direction: "incoming", userId: "alice", clientId: "c1", createdAt: new Date(now).toISOString(), intent: null });
    const staff = newMessage(session, { id: "root", role: "admin" }, { clientId: null, content: "hello", messageType: "text", metadata: {} }, now, "staff");
    expect(staff).toMatchObject({ direction: "outgoing", userId: "root", agentInfo: { kind: "human", userId: "root" } });
    expect(afterMessage(session, m)).toMatchObject({ reactivated: false, session: { lastSeq: 3, messageCount: 3, lastActivityAt: m.createdAt } });
    expect(afterMessage({ ...session, status: "idle" }, m)).toMatchObject({ reactivated: true, session: { status: "active" } });
    expect(afterMessage({ ...session, status: "resolved" }, m).reactivated).toBe(true);
    // A reply or notice arriving after the session was resolved counts, but does not reopen it.
    expect(afterMessage({ ...session, status: "resolved" }, { ...m, direction: "outgoing" })).toMatchObject({ reactivated: false, session: { status: "resolved", lastSeq: 3 } });
    expect(afterMessage({ ...session, status: "idle" }, { ...m, direction: "system" }).reactivated).toBe(false);
  });
});

describe("parseClientFrame", () => {
  it("names what is wrong, and the clientId the error is about", () => {
    expect(parseClientFrame(new ArrayBuffer(2), 100)).toMatchObject({ ok: false, code: "BAD_FRAME", message: "frames must be JSON text" });
    expect(parseClientFrame("x".repeat(101), 100)).toMatchObject({ ok: false, code: "PAYLOAD_TOO_LARGE" });
    expect(parseClientFrame("{", 100)).toMatchObject({ ok: false, code: "BAD_FRAME", message: "frame is not valid JSON" });
    const bad = parseClientFrame(JSON.stringify({ type: "send", clientId: "c9", content: "" }), 1000);
    expect(bad).toMatchObject({ ok: false, code: "BAD_FRAME", clientId: "c9" });
    expect(!bad.ok && bad.message).toContain("content");
    expect(parseClientFrame(JSON.stringify({ type: "send", clientId: "c9", content: "hi" }), 1000)).toMatchObject({ ok: true, frame: { type: "send", content: "hi" } });
  });
});

describe("flushBackoffMs", () => {
  it("doubles from 250 ms up to the cap, within ±20 %", () => {
    expect(flushBackoffMs(1, 30, () => 0.5)).toBe(250);
    expect(flushBackoffMs(3, 30, () => 0.5)).toBe(1000);
    expect(flushBackoffMs(20, 30, () => 0.5)).toBe(30_000);
    expect(flushBackoffMs(20, 30, () => 0)).toBe(24_000);
    expect(flushBackoffMs(20, 30, () => 0.999999)).toBeLessThan(36_000);
  });
});
