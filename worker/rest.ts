// The REST surface: every procedure with `meta.openapi` served at /api<path>, through the same caller as tRPC.
import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import type { Context as HonoContext, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { OpenApiMeta } from "trpc-to-openapi";
import * as z from "zod";
import { ZodError } from "zod";
import { AgentConfigError } from "./agents/registry";
import type { Context } from "./context";
import { loggable, retryAfterHeader } from "./errors";
import { appRouter, createCaller } from "./routers";

type Method = "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
type Caller = ReturnType<typeof createCaller>;

interface Route {
  method: Method;
  path: string;
  procedure: string;
}

/** Every procedure that declares a REST path, read from the router itself. */
export function restRoutes(): Route[] {
  return Object.entries(appRouter._def.procedures).flatMap(([name, proc]) => {
    const openapi = (proc as unknown as { _def: { meta?: OpenApiMeta } })._def.meta?.openapi;
    return openapi ? [{ method: openapi.method as Method, path: openapi.path, procedure: name }] : [];
  });
}

function callProcedure(caller: Caller, name: string, input: unknown): Promise<unknown> {
  const fn = name.split(".").reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], caller);
  return (fn as (input: unknown) => Promise<unknown>)(input);
}

export async function readInput(c: HonoContext, method: Method): Promise<Record<string, unknown>> {
  const query = c.req.query();
  if (method === "GET" || method === "DELETE") return { ...query, ...c.req.param() };
  const text = await c.req.text();
  let body: unknown = {};
  if (text.trim() !== "") {
    const type = c.req.header("content-type") ?? "";
    if (!type.startsWith("application/json")) {
      throw new TRPCError({ code: "UNSUPPORTED_MEDIA_TYPE", message: "request body must be application/json" });
    }
    try {
      body = JSON.parse(text);
    } catch {
      throw new TRPCError({ code: "PARSE_ERROR", message: "request body is not valid JSON" });
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new TRPCError({ code: "BAD_REQUEST", message: "request body must be a JSON object" });
    }
  }
  return { ...(body as Record<string, unknown>), ...c.req.param() };
}

function errorBody(error: TRPCError) {
  // A broken agent registry is the operator's to fix, and the message names the field.
  const internal = error.code === "INTERNAL_SERVER_ERROR" && !(error.cause instanceof AgentConfigError);
  const zod = error.cause instanceof ZodError ? error.cause : null;
  return {
    code: error.code,
    message: internal ? "internal error" : zod ? z.prettifyError(zod) : error.message,
    ...(zod ? { issues: zod.issues.map((i) => ({ path: i.path.join("."), message: i.message })) } : {}),
  };
}

/** A failed REST call as `{code, message, issues?}` with tRPC's status (and Retry-After); `label` names it in the log. */
export function errorResponse(c: HonoContext, cause: unknown, label: string): Response {
  const error = cause instanceof TRPCError ? cause : new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause });
  if (error.code === "INTERNAL_SERVER_ERROR") console.error(`${label}:`, loggable(error.cause ?? error));
  const retryAfter = retryAfterHeader(error);
  if (retryAfter) c.header("retry-after", retryAfter);
  return c.json(errorBody(error), getHTTPStatusCodeFromError(error) as ContentfulStatusCode);
}

/** Mounts the REST routes on `app` under /api; `context` builds the same context tRPC gets. */
export function mountRest<E extends { Bindings: Env }>(app: Hono<E>, context: (c: HonoContext<E>) => Promise<Context>) {
  for (const route of restRoutes()) {
    const path = `/api${route.path.replace(/\{(\w+)\}/g, ":$1")}`;
    app.on(route.method, path, async (c) => {
      try {
        const input = await readInput(c, route.method);
        const data = await callProcedure(createCaller(await context(c)), route.procedure, input);
        return c.json(data as object);
      } catch (cause) {
        return errorResponse(c, cause, `api ${route.procedure}`);
      }
    });
  }
}
