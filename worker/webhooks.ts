// Webhook agents' callbacks: POST /api/webhooks/agents/{agentType}, signed per Standard Webhooks with
// the agent's secret. Verified here (constant time, 5-minute window), then handed to the session's object.
import { createMiddleware } from "hono/factory";
import * as z from "zod";
import { MAX_REPLY_CHARS } from "./agents/call";
import { callbackSchema } from "./agents/decode";
import { agentOf, agentRegistry } from "./agents/registry";
import { webhookFor } from "./agents/request";
import { getConfig } from "./config";
import { isDatabaseUnavailable } from "./db";
import type { AppEnv } from "./index";
import { mayReachSession, sessionStub } from "./session";
import type { CallbackResult } from "./session/agent-turns";

export const agentCallback = createMiddleware<AppEnv>(async (c) => {
  const registry = agentRegistry(c.env);
  if (!registry.ok) return c.json({ code: "INTERNAL_SERVER_ERROR", message: registry.error }, 500);
  const agentType = c.req.param("agentType") ?? "";
  const agent = agentOf(registry.registry, agentType);
  if (!agent) return c.json({ code: "NOT_FOUND", message: `agent type ${agentType} is not in AGENTS` }, 404);
  if (!agent.secret) return c.json({ code: "UNAUTHORIZED", message: `agent type ${agentType} has no secret, so its callbacks cannot be verified` }, 401);
  const raw = await c.req.text();
  try {
    // Constant-time comparison and a 5-minute timestamp window.
    webhookFor(agent.secret).verify(raw, {
      "webhook-id": c.req.header("webhook-id") ?? "",
      "webhook-timestamp": c.req.header("webhook-timestamp") ?? "",
      "webhook-signature": c.req.header("webhook-signature") ?? "",
    });
  } catch (err) {
    const reason = err instanceof Error ? err.message : "invalid signature";
    return c.json({ code: "UNAUTHORIZED", message: `the callback's signature does not verify: ${reason}` }, 401);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return c.json({ code: "BAD_REQUEST", message: "the callback body is not valid JSON" }, 400);
  }
  const parsed = callbackSchema.safeParse(json);
  if (!parsed.success) return c.json({ code: "BAD_REQUEST", message: z.prettifyError(parsed.error) }, 400);
  const body = parsed.data;
  // The same ceiling as a reply in the response: a longer one would be stored whole.
  if ("text" in body && body.text.length > MAX_REPLY_CHARS) {
    return c.json({ code: "PAYLOAD_TOO_LARGE", message: `the reply is ${body.text.length} characters; the limit is ${MAX_REPLY_CHARS} characters` }, 413);
  }
  let reachable: boolean;
  try {
    reachable = await mayReachSession(getConfig(c.env), c.get("db"), body.sessionId);
  } catch (err) {
    if (!isDatabaseUnavailable(err)) throw err;
    return c.json({ code: "SERVICE_UNAVAILABLE", message: "the database is unavailable; retry shortly" }, 503);
  }
  if (!reachable) return c.json({ code: "NOT_FOUND", message: `session ${body.sessionId} not found` }, 404);
  const result = (await sessionStub(c.env, body.sessionId).agentCallback(body.sessionId, {
    agentType,
    deliveryId: c.req.header("webhook-id") ?? "",
    turnId: body.turnId,
    reply: "error" in body ? { ok: false, error: body.error } : { ok: true, text: body.text, fields: body.fields },
  })) as CallbackResult;
  return c.json({ code: result.code, message: result.message }, result.status);
});
