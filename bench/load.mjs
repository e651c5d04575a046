// The load generator: real WebSockets from Node, many per process, speaking the session protocol
// (send → ack, message broadcast). It drives the product and the bare reference the same way.
import WebSocket from "ws";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank percentile of an unsorted array (ms). */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function summary(values) {
  return {
    n: values.length,
    p50: round(percentile(values, 50)),
    p99: round(percentile(values, 99)),
    max: round(values.length ? Math.max(...values) : null),
  };
}

export const round = (v, digits = 2) => (v === null || v === undefined ? null : Math.round(v * 10 ** digits) / 10 ** digits);

/**
 * One client socket. `ready` resolves at the server's ready frame; `send` resolves with the ack;
 * `onMessage` sees every broadcast message frame.
 */
export class Client {
  constructor(url, { protocols } = {}) {
    this.ws = new WebSocket(url, protocols, { perMessageDeflate: false });
    this.pending = new Map();
    this.onMessage = null;
    this.ready = new Promise((resolve, reject) => {
      this.ws.on("error", reject);
      this.ws.on("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      this.ws.on("message", (data) => {
        const frame = JSON.parse(data);
        switch (frame.type) {
          case "ready":
            return resolve(frame);
          case "ack": {
            const p = this.pending.get(frame.clientId);
            if (p) {
              this.pending.delete(frame.clientId);
              p.resolve(frame);
            }
            return;
          }
          case "error": {
            const p = frame.clientId && this.pending.get(frame.clientId);
            if (p) {
              this.pending.delete(frame.clientId);
              p.reject(new Error(`${frame.code}: ${frame.message}`));
            }
            return;
          }
          case "message":
            return this.onMessage?.(frame.message);
        }
      });
    });
  }

  send(clientId, content) {
    return new Promise((resolve, reject) => {
      this.pending.set(clientId, { resolve, reject });
      this.ws.send(JSON.stringify({ type: "send", clientId, content }));
    });
  }

  close() {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once("close", resolve);
      // No need to wait for the close handshake in a benchmark.
      this.ws.terminate();
    });
  }
}

/** Opens `count` sockets to `url()` with at most `parallel` handshakes in flight. */
export async function openMany(count, url, parallel = 50, onProgress = () => {}) {
  const clients = new Array(count);
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, count) }, async () => {
      while (next < count) {
        const i = next++;
        const { url: u, protocols } = await url(i);
        const c = new Client(u, { protocols });
        await c.ready;
        clients[i] = c;
        onProgress(++done);
      }
    }),
  );
  return clients;
}

let lastProgress = 0;
/** The progress line: rewritten in place on a terminal, at most one line a second otherwise. */
export function progress(line, force = false) {
  if (process.stderr.isTTY) return void process.stderr.write(`\r\x1b[2K${line}`);
  const now = Date.now();
  if (!force && now - lastProgress < 1_000) return;
  lastProgress = now;
  process.stderr.write(`${line}\n`);
}

export function progressDone() {
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[2K");
}
