// The OpenAPI document at /openapi.json: generated from the router (trpc-to-openapi), plus the auth
// scheme, an example per operation, hand-written paths for routes that are not procedures, and the
// pages OpenAPI cannot describe (worker/docs/*.md), which the docs UI at /docs renders.
import { generateOpenApiDocument, type OpenAPIObject } from "trpc-to-openapi";
import type { ZodOpenApiOperationObject, ZodOpenApiPathsObject } from "zod-openapi";
import * as z from "zod";
import { callbackSchema } from "./agents/decode";
import agentsPage from "./docs/agents.md";
import overviewPage from "./docs/overview.md";
import websocketPage from "./docs/websocket.md";
import { operationExamples, type OperationExample } from "./openapi-examples";
import { restRoutes } from "./rest";
import { appRouter } from "./routers";

const errorSchema = z
  .object({ code: z.string().describe("e.g. NOT_FOUND"), message: z.string().describe("what is wrong, in words") })
  .meta({ id: "Error" });

/** A JSON error response with its example. */
const error = (description: string, code: string, message: string) => ({
  description,
  content: { "application/json": { schema: errorSchema, example: { code, message } } },
});

const SESSION_ID = "8d3c1f52-7a4e-8b21-9c3d-4e5f6a7b8c9d";

const UI_STREAM_EXAMPLE = [
  { type: "start", messageId: "0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90", messageMetadata: { sessionId: SESSION_ID, turnId: "0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90", agentType: "primary" } },
  { type: "start-step" },
  { type: "text-start", id: "0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90:1" },
  { type: "text-delta", id: "0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90:1", delta: "Sorry to hear that. " },
  { type: "text-delta", id: "0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90:1", delta: "Let me check your card." },
  { type: "text-end", id: "0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90:1" },
  { type: "finish-step" },
  { type: "finish", finishReason: "stop", messageMetadata: { sessionId: SESSION_ID, turnId: "0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90", agentType: "primary", seq: 2 } },
]
  .map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`)
  .join("") + "data: [DONE]\n\n";

/**
 * Routes served by the Worker that are not tRPC procedures, documented by hand (paths are relative
 * to the server, `/api`). Add a route here when you add one to worker/index.ts; every operation
 * needs examples (tests/e2e/docs.test.ts checks).
 */
export const handWrittenPaths: ZodOpenApiPathsObject = {
  "/sessions/{sessionId}/ws": {
    get: {
      operationId: "sessionSocket",
      tags: ["sockets"],
      summary: "Open the session's WebSocket",
      description:
        "Upgrades to a WebSocket on the session's Durable Object. The token goes as the subprotocol `bearer.<jwt>` " +
        '(offer `["edge-chat", "bearer.<jwt>"]`; the server answers `edge-chat`) or as `?token=`. ' +
        "The frames, close codes and error codes are described under **Live sessions (WebSocket)** above.",
      security: [{ socketToken: [] }],
      parameters: [
        { name: "sessionId", in: "path", required: true, schema: { type: "string", format: "uuid" }, example: "8d3c1f52-7a4e-8b21-9c3d-4e5f6a7b8c9d" },
        { name: "since", in: "query", required: false, description: "the last seq you saw: what came after it is replayed before `ready` (or `resync` when the gap is too large)", schema: { type: "integer", minimum: 0 }, example: 12 },
        { name: "Upgrade", in: "header", required: true, schema: { type: "string", enum: ["websocket"] }, example: "websocket" },
        { name: "Sec-WebSocket-Protocol", in: "header", required: false, description: "`edge-chat, bearer.<jwt>`: the token, for browsers (they cannot set Authorization on a socket)", schema: { type: "string" }, example: "edge-chat, bearer.eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.sig" },
      ],
      responses: {
        "101": { description: "Switching Protocols: the socket is open; the first frames are the replay (with `since`), then `ready`" },
        "400": error("a malformed session id or `since`", "BAD_REQUEST", "sessionId must be a UUID"),
        "401": error("no token, or a bad one", "UNAUTHORIZED", "missing token (?token= or Sec-WebSocket-Protocol bearer.<jwt>)"),
        "404": error("no such session, or not yours (owners and admins may connect)", "NOT_FOUND", "session 8d3c1f52-7a4e-8b21-9c3d-4e5f6a7b8c9d not found"),
        "409": error("the session is ended or expired", "CONFLICT", "session is ended"),
        "426": error("not a WebSocket upgrade", "UPGRADE_REQUIRED", "this endpoint speaks WebSocket only"),
        "429": error("too many requests from this address (see `Retry-After`)", "TOO_MANY_REQUESTS", "too many requests from this address; slow down"),
      },
    },
  },
  "/sessions/{sessionId}/export": {
    get: {
      operationId: "exportSession",
      tags: ["sessions"],
      summary: "The whole session as a file (JSON or Markdown), streamed",
      description:
        "Streamed page by page, so a long session never sits in memory; messages acknowledged but not yet in Postgres are included. " +
        "The owner or an admin.",
      security: [{ bearerAuth: [] }],
      parameters: [
        { name: "sessionId", in: "path", required: true, schema: { type: "string", format: "uuid" }, example: SESSION_ID },
        { name: "format", in: "query", required: false, schema: { type: "string", enum: ["json", "markdown"], default: "json" }, example: "markdown" },
      ],
      responses: {
        "200": {
          description: "`content-disposition: attachment`; JSON is `{session, messages}` with every message in seq order",
          content: {
            "application/json": { example: { session: { id: SESSION_ID, title: "Card declined" }, messages: [{ seq: 1, direction: "incoming", content: "My card was declined" }] } },
            "text/markdown": { example: "# Card declined\n\n- Session: `" + SESSION_ID + "`\n\n**customer (alice)** (2026-11-23T10:14:55.310Z, #1)\n\n> My card was declined\n" },
          },
        },
        "400": error("a malformed session id or format", "BAD_REQUEST", "format must be json or markdown"),
        "401": error("no token, or a bad one", "UNAUTHORIZED", "missing bearer token"),
        "404": error("no such session, or not yours", "NOT_FOUND", `session ${SESSION_ID} not found`),
      },
    },
  },
  "/chat": {
    post: {
      operationId: "chat",
      tags: ["chat"],
      summary: "useChat: send the customer's message, get the agent's reply as a UI message stream",
      description:
        "The AI SDK's `DefaultChatTransport` body (`{id, messages, trigger, messageId}`, or the trimmed `{id, message}`); `id` is the session id. " +
        "The last message must be the customer's; its text is stored as `messages.send` stores it, with the UI message id as `clientId`. " +
        "The answer is SSE (`x-vercel-ai-ui-message-stream: v1`): start, start-step, text-start, text-delta…, text-end, finish-step, finish, [DONE]; " +
        "`error` when the agent fails for good, `abort` when the turn is stopped.",
      security: [{ bearerAuth: [] }],
      requestBody: {
        required: true,
        content: {
          "application/json": {
            example: { id: SESSION_ID, message: { id: "msg-7Hq2", role: "user", parts: [{ type: "text", text: "My card was declined" }] } },
          },
        },
      },
      responses: {
        "200": { description: "the turn as a UI message stream", content: { "text/event-stream": { example: UI_STREAM_EXAMPLE } } },
        "400": error("not a chat body, the last message is not the customer's, or no text", "BAD_REQUEST", 'the last message must be the customer\'s (role "user"), not "assistant"'),
        "401": error("no token, or a bad one", "UNAUTHORIZED", "missing bearer token"),
        "404": error("no such session, or not yours", "NOT_FOUND", `session ${SESSION_ID} not found`),
        "409": error("the session is ended or expired", "CONFLICT", "session is ended"),
        "413": error("the content is too long", "PAYLOAD_TOO_LARGE", "content is larger than 8192 bytes"),
        "429": error("the session's message rate (see `Retry-After`)", "TOO_MANY_REQUESTS", "message rate limit reached; retry after 1000 ms"),
      },
    },
  },
  "/chat/{sessionId}/stream": {
    get: {
      operationId: "chatResume",
      tags: ["chat"],
      summary: "useChat: resume the running turn's stream from its start (204 when none runs)",
      security: [{ bearerAuth: [] }],
      parameters: [{ name: "sessionId", in: "path", required: true, schema: { type: "string", format: "uuid" }, example: SESSION_ID }],
      responses: {
        "200": { description: "the running turn as a UI message stream: the reply so far, then live", content: { "text/event-stream": { example: UI_STREAM_EXAMPLE } } },
        "204": { description: "no turn is running" },
        "401": error("no token, or a bad one", "UNAUTHORIZED", "missing bearer token"),
        "404": error("no such session, or not yours", "NOT_FOUND", `session ${SESSION_ID} not found`),
      },
    },
  },
  "/chat/{sessionId}/stop": {
    post: {
      operationId: "chatStop",
      tags: ["chat"],
      summary: "useChat: stop the running turn (its agent call is aborted)",
      security: [{ bearerAuth: [] }],
      parameters: [{ name: "sessionId", in: "path", required: true, schema: { type: "string", format: "uuid" }, example: SESSION_ID }],
      responses: {
        "200": {
          description: "stopped",
          content: { "application/json": { example: { stopped: true, turnId: "0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90", state: "cancelled" } } },
        },
        "401": error("no token, or a bad one", "UNAUTHORIZED", "missing bearer token"),
        "404": error("no such session, or no turn is running", "NOT_FOUND", "no turn is running"),
        "409": error("the turn is already over", "CONFLICT", "turn 0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90 is already done"),
      },
    },
  },
  "/webhooks/agents/{agentType}": {
    post: {
      operationId: "agentCallback",
      tags: ["webhooks"],
      summary: "A webhook agent's reply to a turn (signed)",
      description:
        "Called by agents that answered a turn with `202`, signed per Standard Webhooks with the agent's secret. " +
        "See **The agent contract** above.",
      security: [],
      parameters: [
        { name: "agentType", in: "path", required: true, schema: { type: "string" }, example: "research" },
        { name: "webhook-id", in: "header", required: true, description: "the agent's own delivery id: a delivery taken once is not taken again", schema: { type: "string" }, example: "msg_2nWj9kYb3Vq1" },
        { name: "webhook-timestamp", in: "header", required: true, description: "seconds since the epoch; more than 5 minutes off is refused", schema: { type: "string" }, example: "1795428902" },
        { name: "webhook-signature", in: "header", required: true, description: 'v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>"> with the agent\'s secret', schema: { type: "string" }, example: "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=" },
      ],
      requestBody: {
        required: true,
        content: {
          "application/json": {
            schema: callbackSchema,
            example: {
              turnId: "0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90",
              sessionId: "8d3c1f52-7a4e-8b21-9c3d-4e5f6a7b8c9d",
              output: "Here is what I found: your last three statements are attached.",
              confidence: 0.8,
            },
          },
        },
      },
      responses: {
        "200": {
          description: "taken (`DUPLICATE`: this delivery id was taken before and is ignored)",
          content: { "application/json": { schema: errorSchema, example: { code: "OK", message: "accepted" } } },
        },
        "400": error("the body is not a callback", "BAD_REQUEST", "✖ Invalid input\n  → at turnId"),
        "401": error("the signature does not verify, or the timestamp is too far off", "UNAUTHORIZED", "the callback's signature does not verify: Message timestamp too old"),
        "404": error("unknown agent type, session or turn", "NOT_FOUND", "agent type research2 is not in AGENTS"),
        "409": error("the turn is finished or cancelled, or waits for another agent", "CONFLICT", "turn 0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90 is done"),
      },
    } satisfies ZodOpenApiOperationObject,
  },
};

/** Tags in the order the docs list them, with what each groups. */
const tags = [
  { name: "sessions", description: "Start, read, list, rename, resume, resolve and end chat sessions." },
  { name: "messages", description: "Send messages (idempotent by `clientId`) and page a session's history." },
  { name: "turns", description: "Agent turns: stop one that is running." },
  { name: "chat", description: "The AI SDK's `useChat` transport: a session's agent turns as UI message streams." },
  { name: "sockets", description: "The live session socket. Its frames are described under **Live sessions (WebSocket)**." },
  { name: "handoff", description: "Support staff (admins): sessions waiting for a human; take one or hand it back to an agent." },
  { name: "agents", description: "Support staff (admins): how agents are doing, and turns that failed for good." },
  { name: "webhooks", description: "Called by agents, not by frontends: see **The agent contract**." },
  { name: "users", description: "Per-user statistics." },
  { name: "admin", description: "Support staff (admins): rows the system could not store." },
];

type Operation = { parameters?: unknown[]; requestBody?: unknown; responses?: Record<string, unknown>; [key: string]: unknown };
type MediaTypes = Record<string, { example?: unknown }>;

/** Puts a procedure's example into its generated operation: path/query parameters, JSON body, 200 response. */
function addExample(op: Operation, method: string, example: OperationExample<unknown, unknown>) {
  const input = { ...(example.input as Record<string, unknown>) };
  for (const param of (op.parameters ?? []) as { in?: string; name?: string; example?: unknown }[]) {
    if (param.name === undefined || !(param.name in input)) continue;
    param.example = input[param.name];
    delete input[param.name];
  }
  const body = (op.requestBody as { content?: MediaTypes } | undefined)?.content?.["application/json"];
  if (body && method !== "GET" && method !== "DELETE") body.example = input;
  const ok = (op.responses?.["200"] as { content?: MediaTypes } | undefined)?.content?.["application/json"];
  if (ok) ok.example = example.output;
}

function build(origin: string, version: string): OpenAPIObject {
  const doc = generateOpenApiDocument(appRouter, {
    title: "Edge chat API",
    description: [overviewPage, websocketPage, agentsPage].join("\n\n"),
    version,
    baseUrl: `${origin}/api`,
    securitySchemes: {
      bearerAuth: {
        type: "http",
        scheme: "bearer",
        bearerFormat: "JWT",
        description: "`Authorization: Bearer <jwt>`. Locally: `npm run -s token -- <userId> [--admin]` prints one.",
      },
      socketToken: {
        type: "apiKey",
        in: "query",
        name: "token",
        description: "The socket only: the JWT as `?token=`, or as the subprotocol `bearer.<jwt>`.",
      },
    },
    paths: handWrittenPaths,
  });
  doc.tags = tags;
  for (const route of restRoutes()) {
    const op = doc.paths?.[route.path]?.[route.method.toLowerCase() as "get"] as Operation | undefined;
    if (!op) continue;
    op["x-trpc-procedure"] = route.procedure;
    // The generator lists every scheme on a protected procedure; procedures take the bearer header only.
    op.security = [{ bearerAuth: [] }];
    const [group, name] = route.procedure.split(".") as [string, string];
    const example = (operationExamples as Record<string, Record<string, OperationExample<unknown, unknown>> | undefined>)[group]?.[name];
    if (example) addExample(op, route.method, example);
  }
  return doc;
}

let cached: { key: string; doc: OpenAPIObject } | undefined;

/** The document for requests reaching us at `origin` (its server URL); built once per isolate and origin. */
export function openApiDocument(origin: string, version: string): OpenAPIObject {
  const key = `${origin} ${version}`;
  if (cached?.key !== key) cached = { key, doc: build(origin, version) };
  return cached.doc;
}
