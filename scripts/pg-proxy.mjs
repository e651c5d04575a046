// The local stand-in for Neon's WebSocket endpoint. The Neon driver (in workerd) opens
// `ws://<proxy>/v2?address=host:port` and speaks the Postgres wire protocol in binary frames; this
// proxy carries those bytes to
//   - mode "tcp":    a PostgreSQL on a loopback address (the address the driver asks for),
//   - mode "pglite": an in-process PGlite, which has ONE session: connections are admitted one
//                    transaction at a time (a connection holds the database from its first message
//                    until PGlite is idle again, outside a transaction),
//   - mode "relay":  another proxy (`target`), so a test can cut one Worker off from the database
//                    without touching the others: `setBlocked(true)` refuses (the database is down),
//                    `setStalled(true)` answers nothing (the path to it hangs).
// Only loopback clients and targets are served: this is a development tool, not a gateway.
import { createServer } from "node:http";
import { connect, isIP } from "node:net";
import { WebSocket, WebSocketServer } from "ws";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "::1", "localhost"]);
const SSL_REQUEST = 80877103;
const CANCEL_REQUEST = 80877102;

function isLoopback(host) {
  if (LOOPBACK_HOSTS.has(host)) return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

/**
 * Splits a client's byte stream into whole Postgres frontend messages. The first message (and any
 * SSL/cancel request) has no type byte; after the startup message every message is
 * `type(1) + length(4, including itself) + body`.
 */
export class FrontendParser {
  buffer = Buffer.alloc(0);
  started = false;

  /** @returns {{ type: string, bytes: Buffer }[]} complete messages; `type` is "startup", "ssl", "cancel" or the type letter. */
  push(chunk) {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : Buffer.from(chunk);
    const out = [];
    for (;;) {
      if (!this.started) {
        if (this.buffer.length < 8) break;
        const len = this.buffer.readInt32BE(0);
        if (this.buffer.length < len) break;
        const code = this.buffer.readInt32BE(4);
        const bytes = this.buffer.subarray(0, len);
        this.buffer = this.buffer.subarray(len);
        if (code === SSL_REQUEST) out.push({ type: "ssl", bytes });
        else if (code === CANCEL_REQUEST) out.push({ type: "cancel", bytes });
        else {
          out.push({ type: "startup", bytes });
          this.started = true;
        }
        continue;
      }
      if (this.buffer.length < 5) break;
      const len = 1 + this.buffer.readInt32BE(1);
      if (this.buffer.length < len) break;
      const bytes = this.buffer.subarray(0, len);
      this.buffer = this.buffer.subarray(len);
      out.push({ type: String.fromCharCode(bytes[0]), bytes });
    }
    return out;
  }
}

/** A FIFO mutex: PGlite serves one connection's transaction at a time. */
class Gate {
  #tail = Promise.resolve();
  #owner = null;
  #release = null;

  get owner() {
    return this.#owner;
  }

  async acquire(owner) {
    if (this.#owner === owner) return;
    const previous = this.#tail;
    let release;
    this.#tail = new Promise((r) => (release = r));
    await previous;
    this.#owner = owner;
    this.#release = release;
  }

  release(owner) {
    if (this.#owner !== owner) return;
    this.#owner = null;
    const release = this.#release;
    this.#release = null;
    release();
  }
}

function bridgeTcp(ws, host, port) {
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  const parser = new FrontendParser();
  const pending = [];
  let connected = false;
  const closeBoth = () => {
    socket.destroy();
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
  };
  socket.on("connect", () => {
    connected = true;
    for (const chunk of pending.splice(0)) socket.write(chunk);
  });
  socket.on("data", (data) => ws.readyState === WebSocket.OPEN && ws.send(data));
  socket.on("error", closeBoth);
  socket.on("close", closeBoth);
  ws.on("message", (data) => {
    const chunk = Buffer.isBuffer(data) ? data : Buffer.from(data);
    // workerd does not always deliver the driver's close: end the connection on Terminate ('X').
    const terminate = parser.push(chunk).some((m) => m.type === "X");
    if (connected) socket.write(chunk);
    else pending.push(chunk);
    if (terminate) socket.end();
  });
  ws.on("close", () => socket.end());
  ws.on("error", closeBoth);
  return closeBoth;
}

function bridgePglite(ws, pglite, gate) {
  const parser = new FrontendParser();
  const owner = Symbol("connection");
  let chain = Promise.resolve();
  let closed = false;

  const send = (bytes) => {
    if (bytes.length && ws.readyState === WebSocket.OPEN) ws.send(bytes);
  };
  const finish = async () => {
    if (closed) return;
    closed = true;
    // A connection that goes away inside a transaction must not leave PGlite in it.
    await chain.catch(() => {});
    if (gate.owner === owner) {
      try {
        if (pglite.isInTransaction()) await pglite.exec("ROLLBACK");
      } catch {}
      gate.release(owner);
    }
  };

  const handle = async (message) => {
    if (closed) return;
    if (message.type === "ssl") return send(Buffer.from("N"));
    if (message.type === "cancel") return;
    if (message.type === "X") {
      ws.close();
      return finish();
    }
    await gate.acquire(owner);
    if (closed) return gate.release(owner);
    send(await pglite.execProtocolRaw(new Uint8Array(message.bytes)));
    // Sync, a simple Query and the startup end a request; hand PGlite to the next connection once
    // it is outside a transaction. Anything else (Parse, Bind, ...) is mid-request: keep it.
    if ((message.type === "S" || message.type === "Q" || message.type === "startup") && !pglite.isInTransaction()) {
      gate.release(owner);
    }
  };

  ws.on("message", (data) => {
    const chunk = Buffer.isBuffer(data) ? data : Buffer.from(data);
    for (const message of parser.push(chunk)) {
      chain = chain.then(() => handle(message)).catch(() => ws.terminate());
    }
  });
  ws.on("close", finish);
  ws.on("error", finish);
  return () => ws.terminate();
}

/**
 * Holds work while the path is stalled and releases it, in order, when it flows again: a stalled
 * network delivers late rather than never, so a connection that outlives the stall carries on.
 */
class Valve {
  held = [];
  stalled = false;
  pass(fn) {
    if (this.stalled) this.held.push(fn);
    else fn();
  }
  set(stalled) {
    this.stalled = stalled;
    if (!stalled) for (const fn of this.held.splice(0)) fn();
  }
}

function bridgeRelay(ws, target, path, valve) {
  const upstream = new WebSocket(`${target}${path}`);
  const pending = [];
  const closeBoth = () => {
    upstream.terminate();
    ws.terminate();
  };
  upstream.on("open", () => {
    for (const chunk of pending.splice(0)) upstream.send(chunk);
  });
  upstream.on("message", (data) => valve.pass(() => ws.readyState === WebSocket.OPEN && ws.send(data)));
  upstream.on("close", closeBoth);
  upstream.on("error", closeBoth);
  ws.on("message", (data) =>
    valve.pass(() => {
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data);
      else pending.push(data);
    }),
  );
  ws.on("close", closeBoth);
  ws.on("error", closeBoth);
  return closeBoth;
}

/**
 * Starts the proxy on 127.0.0.1. Returns `{ port, url, setBlocked, setStalled, connections, close }`;
 * `url` is what the Worker gets as DB_WS_PROXY. For tests: `setBlocked(true)` drops every open
 * connection and refuses new ones (a database outage); `setStalled(true)` (relay mode) keeps them
 * but carries nothing and leaves new upgrades unanswered until `setStalled(false)` (a hung path).
 * `connections()` counts the open ones and the most open at once since the last `resetPeak()`.
 */
export async function startPgProxy({ mode = "tcp", pglite, target, port = 0 } = {}) {
  if (mode === "pglite" && !pglite) throw new Error("pglite mode needs a PGlite instance");
  if (mode === "relay" && !target) throw new Error("relay mode needs a target proxy url");
  const gate = new Gate();
  const open = new Set();
  const valve = new Valve();
  let blocked = false;
  let peak = 0;
  let total = 0;

  const server = createServer((req, res) => {
    res.writeHead(426, { "content-type": "text/plain" }).end("WebSocket upgrade required\n");
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

  server.on("upgrade", (req, socket, head) => {
    // A client that goes away (a killed Worker resets its connections) must not crash the process
    // this proxy runs in: the socket is simply gone.
    socket.on("error", () => socket.destroy());
    valve.pass(() => !socket.destroyed && upgrade(req, socket, head));
  });
  const upgrade = (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    const address = url.searchParams.get("address") ?? "";
    const sep = address.lastIndexOf(":");
    const host = address.slice(0, sep).replace(/^\[|\]$/g, "");
    const targetPort = Number(address.slice(sep + 1));
    const client = req.socket.remoteAddress ?? "";
    const loopbackClient = client === "::1" || client.startsWith("127.") || client.startsWith("::ffff:127.");
    const valid = url.pathname === "/v2" && sep > 0 && Number.isInteger(targetPort) && targetPort > 0;
    if (blocked || !loopbackClient || !valid || (mode === "tcp" && !isLoopback(host))) {
      const status = blocked ? "503 Service Unavailable" : valid ? "403 Forbidden" : "400 Bad Request";
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const close =
        mode === "tcp"
          ? bridgeTcp(ws, host, targetPort)
          : mode === "pglite"
            ? bridgePglite(ws, pglite, gate)
            : bridgeRelay(ws, target, req.url, valve);
      open.add(close);
      total += 1;
      peak = Math.max(peak, open.size);
      ws.on("close", () => open.delete(close));
    });
  };

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const actualPort = server.address().port;
  return {
    port: actualPort,
    url: `ws://127.0.0.1:${actualPort}`,
    setBlocked(value) {
      blocked = value;
      if (value) for (const close of [...open]) close();
    },
    setStalled(value) {
      if (mode !== "relay") throw new Error("only a relay proxy can stall");
      valve.set(value);
    },
    connections: () => ({ open: open.size, peak, total }),
    resetPeak() {
      peak = open.size;
    },
    async close() {
      valve.set(false);
      for (const close of [...open]) close();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// `node scripts/pg-proxy.mjs [port]`: a TCP-mode proxy in a process of its own (the bench uses this,
// so relaying Postgres bytes does not share a thread with the load generator). Prints its URL.
if (import.meta.url === `file://${process.argv[1]}`) {
  const proxy = await startPgProxy({ mode: "tcp", port: Number(process.argv[2] ?? 0) });
  console.log(proxy.url);
  const stop = () => proxy.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
