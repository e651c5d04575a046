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
