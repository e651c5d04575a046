// The built client package: `npm run build:client` output, imported as `edge-chat/client` through
// package.json exports by plain Node and by a TypeScript consumer, with no server code inside.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { baseUrl, newUserId, token } from "../helpers";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const run = (args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) =>
  spawnSync(process.execPath, args, { cwd: opts.cwd ?? root, env: { ...process.env, ...opts.env }, encoding: "utf8", timeout: 240_000 });

describe("the built client package", () => {
  beforeAll(() => {
    const build = run(["scripts/build-client.mjs"]);
    expect(build.stderr).toBe("");
    expect(build.status).toBe(0);
  }, 300_000);

  it("is ESM that plain Node imports as edge-chat/client, and works against the Worker", async () => {
    const userId = newUserId();
    const script = `
      import WebSocket from "ws";
      import { createChatClient } from "edge-chat/client";
      const chat = createChatClient({ url: process.env.URL, getToken: () => process.env.TOKEN, WebSocket });
      const session = await chat.sessions.create.mutate({ title: "from the built client" });
      const socket = chat.connect(session.id);
      const stored = await socket.send("hello from dist");
      socket.close();
      console.log(JSON.stringify({ kind: typeof createChatClient, userId: session.userId, seq: stored.seq, content: stored.content }));
    `;
    const out = run(["--input-type=module", "-e", script], { env: { URL: baseUrl(), TOKEN: await token(userId) } });
    expect(out.stderr).toBe("");
    expect(JSON.parse(out.stdout)).toEqual({ kind: "function", userId, seq: 1, content: "hello from dist" });
  });

  it("carries no server code, only imports of its runtime dependencies", () => {
    const bundle = readFileSync(join(root, "client/dist/index.js"), "utf8");
    for (const server of ["drizzle", "hono", "cloudflare:workers", "@neondatabase", "jose", "DurableObject", "@trpc/server"]) expect(bundle).not.toContain(server);
    const imports = [...bundle.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    expect(new Set(imports)).toEqual(new Set(["@trpc/client", "partysocket/ws", "zod"]));
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    expect(pkg.exports["./client"]).toEqual({ types: "./client/dist/types/client/index.d.ts", import: "./client/dist/index.js", default: "./client/dist/index.js" });
  });

  it("gives a TypeScript consumer (browser libs, no Workers types) the router's real types", () => {
    const dir = join(root, "client/dist/consumer-check");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, target: "ES2022", module: "ES2022", moduleResolution: "Bundler", lib: ["ES2022", "DOM"], types: [], skipLibCheck: true },
        files: ["consumer.ts"],
      }),
    );
    writeFileSync(
      join(dir, "consumer.ts"),
      `import { createChatClient, type Message, type RouterOutputs, type SessionSocket } from "edge-chat/client";
const chat = createChatClient({ url: "https://chat.example.com", getToken: () => "token" });
export async function check() {
  const session = await chat.sessions.create.mutate({ agentType: "primary" });
  const id: string = session.id;
  const got: RouterOutputs["sessions"]["get"] = await chat.sessions.get.query({ sessionId: id });
  // @ts-expect-error sessionId is required
  await chat.sessions.get.query({});
  // @ts-expect-error there is no such procedure
  chat.sessions.nope;
  const socket: SessionSocket = chat.connect(id, { since: 0 });
  socket.on("delta", (d) => void (d.text satisfies string));
  const stored: Message = await socket.send("hi");
  // @ts-expect-error seq is a number
  const seq: string = stored.seq;
  return [got, seq];
}
`,
    );
    const tsc = run([join(root, "node_modules/typescript/bin/tsc"), "-p", dir]);
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.status).toBe(0);
  }, 240_000);
});
