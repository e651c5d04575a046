// Retry timing for agent calls: jittered exponential backoff, Retry-After, and which statuses to retry.

/** Full jitter: a uniform random delay in [0, min(maxMs, baseMs * 2^(attempt-1))]. attempt counts from 1 (the attempt that just failed). */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be an integer from 1, got ${attempt}`);
  if (!Number.isFinite(baseMs) || baseMs < 0) throw new RangeError(`baseMs must be a finite number >= 0, got ${baseMs}`);
  if (!Number.isFinite(maxMs) || maxMs < 0) throw new RangeError(`maxMs must be a finite number >= 0, got ${maxMs}`);
  // 2 ** 1100 is Infinity; the cap then wins, and base 0 must not turn 0 * Infinity into NaN.
  const grown = baseMs === 0 ? 0 : baseMs * 2 ** (attempt - 1);
  const cap = Math.floor(Math.min(maxMs, grown));
  // cap + 1 so that cap itself is reachable; the clamp guards against a `random` outside [0, 1).
  const delay = Math.floor(random() * (cap + 1));
  return Number.isNaN(delay) ? cap : Math.min(cap, Math.max(0, delay));
}

const months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

// The three forms RFC 9110 §5.6.7 requires a recipient to accept. Date.parse is not used: it reads
// "5" or "2 apples" as dates, and a bogus date would stall retries instead of being ignored.
const imfFixdate = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const rfc850 = /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const asctime = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

function utc(year: number, monthName: string, day: number, h: number, m: number, s: number): number | null {
  const month = months.indexOf(monthName.toLowerCase());
  if (month < 0 || h > 23 || m > 59 || s > 60) return null;
  const t = Date.UTC(year, month, day, h, m, Math.min(s, 59));
  // Date.UTC rolls "31 Feb" over into March; a date that does not exist is unreadable.
  return new Date(t).getUTCDate() === day ? t : null;
}

function parseHttpDate(value: string, now: number): number | null {
  let m = imfFixdate.exec(value);
  if (m) return utc(Number(m[3]), m[2] ?? "", Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  m = rfc850.exec(value);
  if (m) {
    // RFC 9110: a two-digit year more than 50 years in the future means the previous century.
    const thisYear = new Date(now).getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
    return utc(year, m[2] ?? "", Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  m = asctime.exec(value);
  if (m) return utc(Number(m[6]), m[1] ?? "", Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
  return null;
}

/** Retry-After: delay-seconds or an HTTP-date, as ms from `now` (never negative); null when absent or unreadable. */
export function parseRetryAfter(header: string | null | undefined, now: number): number | null {
  if (header == null) return null;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = parseHttpDate(value, now);
  return at === null ? null : Math.max(0, at - now);
}

/** Whether an HTTP status is worth retrying: 408, 429 and 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (Number.isInteger(status) && status >= 500 && status <= 599);
}
