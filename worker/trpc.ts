// The only initTRPC: router and procedure builders, and error shaping for clients.
import { initTRPC, TRPCError } from "@trpc/server";
import type { OpenApiMeta } from "trpc-to-openapi";
import * as z from "zod";
import { ZodError } from "zod";
import { AgentConfigError } from "./agents/registry";
import { unauthenticated, type Context } from "./context";
import { isDatabaseUnavailable } from "./db";
import { loggable } from "./errors";

const t = initTRPC
  .context<Context>()
  .meta<OpenApiMeta>()
  .create({
    isDev: false,
    errorFormatter({ shape, error }) {
      // Internal failures never leak their message (it may carry SQL or a stack) to the client.
      // A broken agent registry is the operator's to fix, and the message names the field.
      const internal = error.code === "INTERNAL_SERVER_ERROR" && !(error.cause instanceof AgentConfigError);
      const zodError = error.cause instanceof ZodError ? error.cause : null;
      return {
        ...shape,
        message: internal ? "internal error" : zodError ? z.prettifyError(zodError) : shape.message,
        data: {
          ...shape.data,
          stack: undefined,
          zodError: zodError ? z.flattenError(zodError) : null,
        },
      };
    },
  });

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
/** Postgres being unreachable is a 503 the client may retry, not an internal error. */
export const publicProcedure = t.procedure.use(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.code === "INTERNAL_SERVER_ERROR" && isDatabaseUnavailable(result.error.cause)) {
    console.error("database unavailable", loggable(result.error.cause));
    throw new TRPCError({ code: "SERVICE_UNAVAILABLE", message: "the database is unavailable; retry shortly", cause: result.error.cause });
  }
  return result;
});

export const protectedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.user) {
    throw unauthenticated(ctx);
  }
  return next({ ctx: { ...ctx, user: ctx.user } });
});

/** Support staff: admins only. */
export const adminProcedure = protectedProcedure.use(({ ctx, next }) => {
  if (ctx.user.role !== "admin") throw new TRPCError({ code: "FORBIDDEN", message: "only admins may do this" });
  return next();
});
