// The tRPC context: config, the caller (from the bearer token), and the request's database.
import { TRPCError } from "@trpc/server";
import { AuthError, KeysUnavailableError, bearerToken, verifyToken, type User } from "./auth";
import { getConfig, type Config } from "./config";
import type { Db } from "./db";

export type Context = {
  env: Env;
  config: Config;
  user: User | null;
  /** Why the presented token was refused, for the UNAUTHORIZED message. */
  authError: string | null;
  /** The token could not be checked now (the JWKS is unreachable): 503, not 401. */
  authUnavailable?: boolean;
  db: Db;
  /** Records a duration (ms) for the response's Server-Timing header. */
  metric: (name: string, ms: number) => void;
  /** The origin the request came in on (where webhook agents are told to call back); null outside a request. */
  origin: string | null;
};

/** Builds a context from parts; tests and other entry points call this directly. */
export function createContextInner(opts: { env: Env; db: Db; user: User | null; authError?: string | null }): Context {
  return { env: opts.env, config: getConfig(opts.env), user: opts.user, authError: opts.authError ?? null, db: opts.db, metric: () => {}, origin: null };
}

/** Resolves the caller from an Authorization header: a user, or the reason the token was refused. */
export async function authenticate(header: string | null | undefined, config: Config) {
  const token = bearerToken(header);
  if (!token) {
    return { user: null, authError: header ? "Authorization header must be 'Bearer <token>'" : null };
  }
  try {
    return { user: await verifyToken(token, config), authError: null };
  } catch (err) {
    if (err instanceof AuthError) return { user: null, authError: err.message, authUnavailable: err instanceof KeysUnavailableError };
    throw err;
  }
}

/** The error for a caller without a user: 401 with the reason, or 503 when the token could not be checked now. */
export function unauthenticated(ctx: Pick<Context, "authError" | "authUnavailable">): TRPCError {
  if (ctx.authUnavailable) return new TRPCError({ code: "SERVICE_UNAVAILABLE", message: ctx.authError ?? "the token cannot be verified now; retry shortly" });
  return new TRPCError({ code: "UNAUTHORIZED", message: ctx.authError ?? "missing bearer token" });
}

/** Per-request context; `db` is the request's lazily opened database (see the Hono middleware). */
export async function createContext(opts: {
  env: Env;
  authorization: string | null | undefined;
  db: () => Db;
  metric?: Context["metric"];
  origin?: string;
}): Promise<Context> {
  const config = getConfig(opts.env);
  const { user, authError, authUnavailable } = await authenticate(opts.authorization, config);
  const ctx = { env: opts.env, config, user, authError, authUnavailable, metric: opts.metric ?? (() => {}), origin: opts.origin ?? null } as Omit<Context, "db">;
  // Opening the database is deferred to the first query, so requests that never query pay nothing.
  return Object.defineProperty(ctx, "db", { enumerable: true, get: opts.db }) as Context;
}
