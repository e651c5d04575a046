// A Durable Object per rate-limit key (client IP, user): exact counters shared by every Worker instance.
import { DurableObject } from "cloudflare:workers";
import { gcra, type Rate, type Verdict } from "./rate-limit";

export class RateLimiter extends DurableObject<Env> {
  private tat: number | undefined;

  /** Takes one request from the key's allowance: `limit` per `periodMs`, all of it usable as a burst. */
  async take(limit: number, periodMs: number): Promise<{ ok: boolean; retryAfterMs: number }> {
    this.tat ??= (await this.ctx.storage.get<number>("tat")) ?? 0;
    const rate: Rate = { limit, periodMs, burst: limit };
    const verdict: Verdict = gcra(this.tat, Date.now(), rate);
    if (!verdict.ok) return { ok: false, retryAfterMs: verdict.retryAfterMs };
    this.tat = verdict.tat;
    // Not awaited: the output gate holds our answer until the write is durable.
    void this.ctx.storage.put("tat", verdict.tat);
    return { ok: true, retryAfterMs: 0 };
  }
}

/** Asks the key's limiter; `null` when admitted, else the wait in ms. */
export async function takeToken(env: Env, key: string, limit: number, periodMs: number): Promise<number | null> {
  const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(key));
  const { ok, retryAfterMs } = await stub.take(limit, periodMs);
  return ok ? null : retryAfterMs;
}
