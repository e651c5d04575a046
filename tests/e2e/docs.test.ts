// The API docs against the real Worker: /docs loads only our own script, /openapi.json carries the auth
// scheme, valid examples for every operation, the hand-written routes and the frames/agent pages.
import { describe, expect, it, vi } from "vitest";
import * as z from "zod";
import { callbackSchema, replySchema } from "../../worker/agents/decode";
import * as protocol from "../../worker/protocol";
import { CloseCodes, clientFrameSchema } from "../../worker/protocol";
import { restRoutes } from "../../worker/rest";
import { appRouter } from "../../worker/routers";
import { baseUrl } from "../helpers";

// The router is imported for its zod schemas only; some of its modules define Durable Object classes,
// whose base class exists in workerd alone.
vi.mock("cloudflare:workers", () => ({ DurableObject: class {} }));

interface Param { in: string; name: string; required?: boolean; example?: unknown }
interface Media { example?: unknown; schema?: unknown }
interface Operation {
  operationId?: string;
  security?: Record<string, string[]>[];
  parameters?: Param[];
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, { content?: Record<string, Media> }>;
  "x-trpc-procedure"?: string;
}
interface Doc {
  info: { description: string };
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { type: string; scheme?: string; bearerFormat?: string; description?: string; in?: string; name?: string }> };
  tags: { name: string; description?: string }[];
}

async function openapi(): Promise<Doc> {
  const res = await fetch(`${baseUrl()}/openapi.json`);
  expect(res.status).toBe(200);
  return (await res.json()) as Doc;
}

const operations = (doc: Doc) =>
  Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method: method.toUpperCase(), op })));

/** The router's procedures by full name ("sessions.create"), as tRPC keeps them at run time. */
const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { inputs: z.ZodType[]; output?: z.ZodType } }>;

/** The zod schemas a procedure validates its input and output with. */
function schemasOf(procedure: string): { input: z.ZodType; output: z.ZodType } {
  const def = procedures[procedure]?._def;
  if (!def) throw new Error(`no procedure ${procedure}`);
  expect(def.inputs).toHaveLength(1);
  expect(def.output, `${procedure} declares an output schema`).toBeDefined();
  return { input: def.inputs[0]!, output: def.output! };
}

/** The fenced code blocks of a Markdown text whose info string is `json <tag>`, parsed. */
function examplesTagged(markdown: string, tag: string): unknown[] {
  return [...markdown.matchAll(new RegExp("```json " + tag + "\\n([\\s\\S]*?)\\n```", "g"))].map((m) => JSON.parse(m[1]!));
}

describe("GET /docs", () => {
  it("is HTML whose scripts and styles all come from this origin, under a CSP that says so", async () => {
    const res = await fetch(`${baseUrl()}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    const srcs = [...html.matchAll(/<(?:script|link|img)\b[^>]*\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
    expect(srcs.length).toBeGreaterThan(0);
    for (const src of srcs) expect(src, `${src} is on this origin`).toMatch(/^\/(?!\/)/);
    expect(html).not.toMatch(/https?:\/\/[^"'\s]*(cdn|jsdelivr|unpkg|fonts)/i);
    expect(html).not.toMatch(/@import\s+url\(\s*["']?https?:/);

    const csp = res.headers.get("content-security-policy") ?? "";
    const directive = (name: string) => csp.split(";").map((d) => d.trim()).find((d) => d.startsWith(`${name} `)) ?? "";
    const nonce = /'nonce-([^']+)'/.exec(directive("script-src"))?.[1];
    expect(nonce).toBeTruthy();
    // Nothing but our origin and the nonce may run scripts; no other origin for anything.
    expect(directive("script-src").split(/\s+/).slice(1).sort()).toEqual([`'nonce-${nonce}'`, "'self'"].sort());
    expect(csp).not.toMatch(/https?:|\*/);
    expect(directive("connect-src")).toBe("connect-src 'self'");
    // Every inline script carries that nonce (or the browser would refuse to start the UI).
    const inline = [...html.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1]!);
    for (const attrs of inline) expect(attrs).toContain(`nonce="${nonce}"`);
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("serves the script the page loads, from the Worker, as JavaScript", async () => {
    const html = await (await fetch(`${baseUrl()}/docs`)).text();
    const src = /<script\b[^>]*\bsrc="([^"]+)"/.exec(html)?.[1];
    expect(src).toBeDefined();
    const res = await fetch(`${baseUrl()}${src}`);
    expect(res.status, `${src} is served (run npm run build:docs)`).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^(text|application)\/javascript/);
    const body = await res.text();
    // The bundle defines what the page's start-up script calls.
    expect(html).toContain("Scalar.createApiReference(");
    expect(body).toContain("createApiReference");
    expect(body.length).toBeGreaterThan(1_000_000);
  });
});

describe("GET /openapi.json", () => {
  it("declares the bearer JWT scheme, says how to get a token locally, and every procedure uses it", async () => {
    const doc = await openapi();
    const bearer = doc.components.securitySchemes.bearerAuth!;
    expect(bearer).toMatchObject({ type: "http", scheme: "bearer", bearerFormat: "JWT" });
    expect(bearer.description).toContain("npm run -s token -- <userId> [--admin]");
    expect(doc.components.securitySchemes.socketToken).toMatchObject({ type: "apiKey", in: "query", name: "token" });
    for (const { op, method, path } of operations(doc)) {
      if (op["x-trpc-procedure"]) expect(op.security, `${method} ${path}`).toEqual([{ bearerAuth: [] }]);
    }
  });

  it("has an example request and response for every operation, each valid against the procedure's zod schemas", async () => {
    const doc = await openapi();
    // Every procedure with a REST route is in the document, at that route.
    const documented = operations(doc).filter(({ op }) => op["x-trpc-procedure"]);
    expect(documented.map(({ op, method, path }) => `${op["x-trpc-procedure"]} ${method} ${path}`).sort()).toEqual(
      restRoutes().map((r) => `${r.procedure} ${r.method} ${r.path}`).sort(),
    );

    for (const { path, method, op } of documented) {
      const name = `${op["x-trpc-procedure"]} (${method} ${path})`;
      const { input: inputSchema, output: outputSchema } = schemasOf(op["x-trpc-procedure"]!);
      // The input a client would send: the parameters' examples plus the body's.
      const input: Record<string, unknown> = {};
      for (const param of op.parameters ?? []) {
        if (param.in === "path") expect(param.example, `${name}: path parameter ${param.name} has an example`).toBeDefined();
        if (param.example !== undefined) input[param.name] = param.example;
      }
      if (op.requestBody) {
        const body = op.requestBody.content["application/json"]?.example;
        expect(body, `${name}: request body example`).toBeDefined();
        Object.assign(input, body);
      }
      expect(Object.keys(input).length + (op.parameters?.length ?? 0) + (op.requestBody ? 1 : 0), `${name}: request example`).toBeGreaterThan(0);
      const parsedInput = inputSchema.safeParse(input);
      expect(parsedInput.success, `${name}: input example: ${parsedInput.success ? "" : z.prettifyError(parsedInput.error)}`).toBe(true);
      const output = op.responses["200"]?.content?.["application/json"]?.example;
      expect(output, `${name}: response example`).toBeDefined();
      const parsedOutput = outputSchema.safeParse(output);
      expect(parsedOutput.success, `${name}: output example: ${parsedOutput.success ? "" : z.prettifyError(parsedOutput.error)}`).toBe(true);
    }
  });

  it("documents the routes that are not procedures: the session socket and the agents' callback, with examples", async () => {
    const doc = await openapi();
    const ws = doc.paths["/sessions/{sessionId}/ws"]?.get;
    expect(ws).toBeDefined();
    expect(Object.keys(ws!.responses)).toEqual(expect.arrayContaining(["101", "401", "404", "426"]));
    expect(ws!.security).toEqual([{ socketToken: [] }]);
    expect(ws!.parameters?.map((p) => p.name)).toEqual(expect.arrayContaining(["sessionId", "since", "Sec-WebSocket-Protocol"]));

    const callback = doc.paths["/webhooks/agents/{agentType}"]?.post;
    expect(callback).toBeDefined();
    expect(callback!.security).toEqual([]);
    expect(callback!.parameters?.filter((p) => p.in === "header" && p.required).map((p) => p.name).sort()).toEqual(
      ["webhook-id", "webhook-signature", "webhook-timestamp"],
    );
    expect(callbackSchema.safeParse(callback!.requestBody?.content["application/json"]?.example).success).toBe(true);

    const errorShape = z.object({ code: z.string().min(1), message: z.string().min(1) });
    for (const { path, method, op } of operations(doc).filter(({ op }) => !op["x-trpc-procedure"])) {
      for (const param of op.parameters ?? []) expect(param.example, `${method} ${path}: ${param.name} has an example`).toBeDefined();
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) < 400) {
          // A success with a body (JSON, an event stream, a file) shows one; 101 and 204 have none.
          for (const [type, media] of Object.entries(response.content ?? {})) expect(media.example, `${method} ${path} ${status} ${type}: example`).toBeDefined();
          continue;
        }
        const example = response.content?.["application/json"]?.example;
        expect(errorShape.safeParse(example).success, `${method} ${path} ${status}: example`).toBe(true);
      }
    }
  });

  it("carries the pages OpenAPI cannot describe: auth, the socket frames (with valid examples) and the agent contract", async () => {
    const doc = await openapi();
    const md = doc.info.description;
    for (const heading of ["# Authentication", "# Live sessions (WebSocket)", "## Client → server frames", "## Server → client frames", "## Close codes", "## Error codes", "# The agent contract", "## The signed callback"]) {
      expect(md).toContain(`\n${heading}\n`);
    }

    // Every client frame type has an example, and every example is a frame the server accepts.
    const clientExamples = examplesTagged(md, "client-frame");
    for (const example of clientExamples) {
      const parsed = clientFrameSchema.safeParse(example);
      expect(parsed.success, `client frame example ${JSON.stringify(example)}`).toBe(true);
    }
    const clientTypes = clientFrameSchema.options.map((o) => o.shape.type.value);
    expect(clientExamples.map((e) => (e as { type: string }).type).sort()).toEqual([...clientTypes].sort());

    // Server frames: parsed with the shared schema once worker/protocol.ts exports one; until then,
    // every type of the ServerFrame union has an example.
    const serverExamples = examplesTagged(md, "server-frame") as { type: string }[];
    const serverFrameSchema = (protocol as Record<string, unknown>).serverFrameSchema;
    if (serverFrameSchema instanceof z.ZodType) {
      for (const example of serverExamples) expect(serverFrameSchema.safeParse(example).success, `server frame example ${JSON.stringify(example)}`).toBe(true);
    }
    const serverTypes = ["ready", "ack", "message", "typing", "presence", "read", "session", "resync", "error", "turn", "delta", "pong"] satisfies protocol.ServerFrame["type"][];
    expect(serverExamples.map((e) => e.type).sort()).toEqual([...serverTypes].sort());

    for (const code of Object.values(CloseCodes)) expect(md).toContain(`| \`${code}\` |`);
    const errorCodes = ["BAD_FRAME", "PAYLOAD_TOO_LARGE", "RATE_LIMITED", "SESSION_CLOSED", "FORBIDDEN", "NOT_FOUND", "CONFLICT", "INTERNAL"] satisfies protocol.ErrorCode[];
    for (const code of errorCodes) expect(md).toContain(`| \`${code}\` |`);

    // The agent contract's examples are what the Worker accepts from an agent.
    for (const header of ["webhook-id", "webhook-timestamp", "webhook-signature"]) expect(md).toContain(`| \`${header}\` |`);
    const replies = examplesTagged(md, "agent-reply");
    expect(replies.length).toBeGreaterThan(0);
    for (const reply of replies) expect(replySchema.safeParse(reply).success, JSON.stringify(reply)).toBe(true);
    const callbacks = examplesTagged(md, "agent-callback");
    expect(callbacks.length).toBe(2);
    for (const callback of callbacks) expect(callbackSchema.safeParse(callback).success, JSON.stringify(callback)).toBe(true);

    // Each group of operations says what it is for.
    for (const tag of doc.tags) expect(tag.description, tag.name).toBeTruthy();
  });
});
