// Backoff: full-jitter delays, Retry-After parsing and the statuses worth retrying.
import { describe, expect, it } from "vitest";
import { isRetryableStatus, parseRetryAfter, retryDelayMs } from "../../worker/agents/backoff";

const almostOne = 1 - Number.EPSILON;

describe("retryDelayMs", () => {
  it("spans [0, base] on the first attempt, both ends included", () => {
    expect(retryDelayMs(1, 100, 10_000, () => 0)).toBe(0);
    expect(retryDelayMs(1, 100, 10_000, () => almostOne)).toBe(100);
    expect(retryDelayMs(1, 100, 10_000, () => 0.5)).toBe(50);
  });

  it("doubles the ceiling with each attempt", () => {
    expect([1, 2, 3, 4, 5].map((a) => retryDelayMs(a, 100, 10_000, () => almostOne))).toEqual([100, 200, 400, 800, 1600]);
  });

  it("never exceeds maxMs, even when 2^attempt overflows", () => {
    expect(retryDelayMs(8, 100, 10_000, () => almostOne)).toBe(10_000);
    expect(retryDelayMs(2000, 100, 10_000, () => almostOne)).toBe(10_000);
    expect(retryDelayMs(2000, 0, 10_000, () => almostOne)).toBe(0);
  });

  it("returns integers within bounds for Math.random and for a `random` outside [0, 1)", () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      const d = retryDelayMs(attempt, 75, 5_000);
      expect(Number.isInteger(d)).toBe(true);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(Math.min(5_000, 75 * 2 ** (attempt - 1)));
    }
    expect(retryDelayMs(1, 100, 1_000, () => 1.5)).toBe(100);
    expect(retryDelayMs(1, 100, 1_000, () => -1)).toBe(0);
    expect(retryDelayMs(1, 100.7, 1_000, () => almostOne)).toBe(100);
  });

  it("rejects attempts before the first and negative or non-finite bounds", () => {
    expect(() => retryDelayMs(0, 100, 1_000)).toThrow(RangeError);
    expect(() => retryDelayMs(1.5, 100, 1_000)).toThrow(RangeError);
    expect(() => retryDelayMs(1, -1, 1_000)).toThrow(RangeError);
    expect(() => retryDelayMs(1, 100, Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.UTC(2025, 5, 1, 12, 0, 0); // Sun, 01 Jun 2025 12:00:00 GMT

  it("reads delay-seconds as milliseconds, without a cap", () => {
    expect(parseRetryAfter("120", now)).toBe(120_000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
    expect(parseRetryAfter("86400", now)).toBe(86_400_000);
  });

  it("reads an HTTP-date as milliseconds from now in all three RFC 9110 forms", () => {
    expect(parseRetryAfter("Sun, 01 Jun 2025 12:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Sunday, 01-Jun-25 12:01:00 GMT", now)).toBe(60_000);
    expect(parseRetryAfter("Sun Jun  1 12:00:05 2025", now)).toBe(5_000);
  });

  it("gives 0, not a negative delay, for a date in the past", () => {
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now)).toBe(0);
  });

  it("returns null when absent or unreadable", () => {
    for (const header of [null, undefined, "", "   ", "soon", "-5", "1.5", "5 apples", "2025-06-01T12:00:30Z", "Sun, 31 Feb 2025 12:00:00 GMT", "Sun, 01 Jun 2025 25:00:00 GMT", "Sun, 01 Foo 2025 12:00:00 GMT"]) {
      expect(parseRetryAfter(header, now)).toBeNull();
    }
  });
});

describe("isRetryableStatus", () => {
  it("retries 408, 429 and 5xx only", () => {
    for (const s of [408, 429, 500, 502, 503, 504, 599]) expect(isRetryableStatus(s)).toBe(true);
    for (const s of [200, 204, 301, 400, 401, 403, 404, 409, 413, 422, 499, 600, 500.5]) expect(isRetryableStatus(s)).toBe(false);
  });
});
