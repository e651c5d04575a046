// The reference for `npm run bench`: the least a Durable Object chat can do per message. It speaks
// the same frames as the product (send → ack + message broadcast) so one load generator drives both.
// With `?agent=<url>` on the socket it also does the least an agent turn needs: POST the message to
// the agent, relay streamed deltas, store the reply and broadcast it (scenario 7's floor).
import { DurableObject } from "cloudflare:workers";

interface Env {
  ROOM: DurableObjectNamespace<Room>;
}

export class Room extends DurableObject<Env> {
  private seq: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec("create table if not exists messages (seq integer primary key, client_id text, content text, created_at integer)");
    this.seq = (ctx.storage.sql.exec("select coalesce(max(seq), 0) as s from messages").one().s as number) ?? 0;
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('{"type":"ping"}', '{"type":"pong"}'));
  }

  override async fetch(request: Request): Promise<Response> {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ agent: new URL(request.url).searchParams.get("agent") });
    server.send(JSON.stringify({ type: "ready", lastSeq: this.seq }));
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer) {
    const frame = JSON.parse(data as string) as { clientId: string; content: string };
    const seq = ++this.seq;
    const createdAt = Date.now();
    this.ctx.storage.sql.exec("insert into messages values (?, ?, ?, ?)", seq, frame.clientId, frame.content, createdAt);
    const id = `m${seq}`;
    const message = JSON.stringify({ type: "message", message: { id, seq, clientId: frame.clientId, content: frame.content, createdAt, direction: "incoming" } });
    for (const peer of this.ctx.getWebSockets()) peer.send(message);
    ws.send(JSON.stringify({ type: "ack", clientId: frame.clientId, seq, id }));
    const { agent } = ws.deserializeAttachment() as { agent: string | null };
    if (agent) void this.answer(agent, id, frame.content);
  }

  /** The agent turn's floor: call, relay deltas, store the reply, broadcast it. */
  private async answer(agent: string, parentId: string, content: string) {
    const turnId = crypto.randomUUID();
    const res = await fetch(agent, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ turnId, message: { content } }) });
    let text = "";
    if ((res.headers.get("content-type") ?? "").startsWith("application/json")) {
      text = ((await res.json()) as { output: string }).output;
    } else {
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = "";
      let index = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffered += value;
        let end;
        while ((end = buffered.indexOf("\n\n")) >= 0) {
          const data = buffered.slice(0, end).replace(/^data: /, "");
          buffered = buffered.slice(end + 2);
          if (data === "[DONE]") continue;
          const event = JSON.parse(data) as { type: string; delta?: string };
          if (event.type !== "text-delta") continue;
          text += event.delta;
          const delta = JSON.stringify({ type: "delta", turnId, index: index++, text: event.delta });
          for (const peer of this.ctx.getWebSockets()) peer.send(delta);
        }
      }
    }
    const seq = ++this.seq;
    this.ctx.storage.sql.exec("insert into messages values (?, ?, ?, ?)", seq, null, text, Date.now());
    const reply = JSON.stringify({ type: "message", message: { id: `m${seq}`, seq, content: text, direction: "outgoing", parentId } });
    for (const peer of this.ctx.getWebSockets()) peer.send(reply);
  }

  override async webSocketClose(ws: WebSocket, code: number) {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, "bye");
    } catch {}
  }
}

export default {
  async fetch(request: Request, env: Env) {
    const match = new URL(request.url).pathname.match(/^\/s\/([^/]+)\/ws$/);
    if (!match || request.headers.get("upgrade") !== "websocket") return new Response("not found", { status: 404 });
    return env.ROOM.get(env.ROOM.idFromName(match[1]!)).fetch(request);
  },
} satisfies ExportedHandler<Env>;
