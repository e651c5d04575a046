// The reference for `npm run bench`: the least a Durable Object chat can do per message. It speaks
// the same frames as the product (send → ack + message broadcast) so one load generator drives both.
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

  override async fetch(): Promise<Response> {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    server.send(JSON.stringify({ type: "ready", lastSeq: this.seq }));
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer) {
    const frame = JSON.parse(data as string) as { clientId: string; content: string };
    const seq = ++this.seq;
    const createdAt = Date.now();
    this.ctx.storage.sql.exec("insert into messages values (?, ?, ?, ?)", seq, frame.clientId, frame.content, createdAt);
    const message = JSON.stringify({ type: "message", message: { seq, clientId: frame.clientId, content: frame.content, createdAt } });
    for (const peer of this.ctx.getWebSockets()) peer.send(message);
    ws.send(JSON.stringify({ type: "ack", clientId: frame.clientId, seq }));
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
