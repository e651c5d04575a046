// GCRA (generic cell rate algorithm): exact "burst, then one every interval" limits in O(1) state.

export interface Rate {
  /** Requests admitted per `periodMs` once the burst is spent. */
  limit: number;
  periodMs: number;
  /** Requests admitted back to back from a full allowance. */
  burst: number;
}

export type Verdict = { ok: true; tat: number } | { ok: false; tat: number; retryAfterMs: number };

/**
 * Decides one request at `now` given the stored theoretical arrival time `tat` (0 when new).
 * Admitted requests return the new `tat` to store; refused ones leave it unchanged.
 */
export function gcra(tat: number, now: number, rate: Rate): Verdict {
  const interval = rate.periodMs / rate.limit;
  const tolerance = (rate.burst - 1) * interval;
  const start = Math.max(tat, now);
  if (start - now > tolerance) {
    return { ok: false, tat, retryAfterMs: Math.ceil(start - now - tolerance) };
  }
  return { ok: true, tat: start + interval };
}
