// Agent tests: a Worker of its own whose AGENTS point at a local agent server the test controls.
import { dedicatedWorker, token, TestSocket, newUserId } from "../helpers";
import { startAgentServer, type AgentServer } from "./agent-server";

export type Dedicated = Awaited<ReturnType<typeof dedicatedWorker>>;

export interface AgentStack {
  worker: Dedicated;
  agents: AgentServer;
  /** REST call to this Worker's /api. */
  call(method: string, path: string, t: string | null, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any }>;
  /** A new customer with a session of `agentType`, a socket on it (ready), and their token. */
  session(agentType: string, opts?: { userId?: string }): Promise<{ id: string; userId: string; token: string; socket: TestSocket; session: any }>;
  stop(): Promise<void>;
}

/**
 * Starts an agent server and a Worker whose AGENTS come from `registry(agentServerUrl)`. Secrets in
 * the registry are also given to the agent server (per agent path) so calls can be verified.
 */
export async function agentStack(
  registry: (url: string) => Record<string, Record<string, unknown>>,
  vars: Record<string, string> = {},
): Promise<AgentStack> {
  const agents = await startAgentServer();
  const agentsConfig = registry(agents.url);
  for (const a of Object.values(agentsConfig)) {
    if (typeof a.url === "string" && typeof a.secret === "string" && a.url.startsWith(agents.url)) agents.secrets[new URL(a.url).pathname] = a.secret;
  }
  const worker = await dedicatedWorker({ AGENTS: JSON.stringify(agentsConfig), ...vars });
  const call: AgentStack["call"] = async (method, path, t, body, headers = {}) => {
    const res = await fetch(`${worker.url}/api${path}`, {
      method,
      headers: { ...(t ? { authorization: `Bearer ${t}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, headers: res.headers, body: parsed as any };
  };
  return {
    worker,
    agents,
    call,
    async session(agentType, opts = {}) {
      const userId = opts.userId ?? newUserId();
      const t = await token(userId);
      const created = await call("POST", "/sessions", t, { agentType });
      if (created.status !== 200) throw new Error(`session create failed: ${created.status} ${JSON.stringify(created.body)}`);
      const socket = await TestSocket.open(created.body.id, { token: t }, { base: worker.url });
      await socket.next("ready");
      return { id: created.body.id as string, userId, token: t, socket, session: created.body };
    },
    async stop() {
      await worker.stop();
      await agents.close();
    },
  };
}

/** The text of a turn's deltas, in index order, for the latest attempt seen. */
export function deltaText(socket: TestSocket, turnId: string): string {
  const deltas = socket.of("delta").filter((f) => f.turnId === turnId);
  const attempt = Math.max(0, ...deltas.map((f) => f.attempt as number));
  return deltas.filter((f) => f.attempt === attempt).sort((a, b) => a.index - b.index).map((f) => f.text).join("");
}
