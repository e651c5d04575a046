// Domain errors that carry more than a message.
import { TRPCError } from "@trpc/server";

/** A refused request that may be retried after `retryAfterMs`; becomes 429 with Retry-After. */
export class RateLimitedError extends Error {
  override name = "RateLimitedError";
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

export function tooManyRequests(message: string, retryAfterMs: number): TRPCError {
  return new TRPCError({ code: "TOO_MANY_REQUESTS", message, cause: new RateLimitedError(message, retryAfterMs) });
}

/** The Retry-After header value (whole seconds, at least 1) for an error, if it has one. */
export function retryAfterHeader(error: unknown): string | null {
  const cause = error instanceof TRPCError ? error.cause : error;
  return cause instanceof RateLimitedError ? String(Math.max(1, Math.ceil(cause.retryAfterMs / 1000))) : null;
}

/**
 * An error as a log line: each message down its `cause` chain, without the values a failed query
 * carries (Drizzle puts the query's parameters in its message — an outbox batch's are customers'
 * words), and the innermost error's stack.
 */
export function loggable(err: unknown): string {
  const messages: string[] = [];
  let innermost: unknown = err;
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    innermost = e;
    const message = e instanceof Error || (typeof e === "object" && typeof (e as { message?: unknown }).message === "string") ? String((e as { message: string }).message) : String(e);
    const name = e instanceof Error ? e.name : typeof e === "object" ? (e.constructor?.name ?? "object") : typeof e;
    const text = message.replace(/\nparams:[\s\S]*$/, "").replace(/\s+/g, " ").trim();
    messages.push(`${name}: ${text.length > 300 ? `${text.slice(0, 300)}…` : text}`);
    if (typeof e !== "object") break;
  }
  const stack = innermost instanceof Error && innermost.stack ? innermost.stack.split("\n").slice(1, 6).join("\n") : "";
  return messages.join(" ← ") + (stack ? `\n${stack}` : "");
}
