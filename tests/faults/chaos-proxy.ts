// A TCP relay between the clients and the Worker that can cut connections: the network a phone has.
import { createServer, connect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export interface ChaosProxy {
  /** http://127.0.0.1:<port>: give this to clients instead of the Worker's URL. */
  url: string;
  /** Connections cut so far (by `cutAll` and `cutSome`). */
  cuts: number;
  /** Cuts every open connection (a network change on every device at once). */
  cutAll(): number;
  /** Cuts each open connection with probability `p`. */
  cutSome(p: number, random: () => number): number;
  close(): Promise<void>;
}

export async function startChaosProxy(targetPort: number): Promise<ChaosProxy> {
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    const pair = [client, upstream];
    const end = () => {
      for (const s of pair) s.destroy();
      open.delete(client);
    };
    open.add(client);
    client.pipe(upstream).pipe(client);
    for (const s of pair) {
      s.on("error", end);
      s.on("close", end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxy: ChaosProxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cuts: 0,
    cutAll() {
      const n = open.size;
      for (const s of [...open]) s.destroy();
      proxy.cuts += n;
      return n;
    },
    cutSome(p, random) {
      let n = 0;
      for (const s of [...open]) {
        if (random() < p) {
          s.destroy();
          n++;
        }
      }
      proxy.cuts += n;
      return n;
    },
    async close() {
      for (const s of [...open]) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}

/** A small seeded PRNG (mulberry32), so a failing run can be replayed with FAULT_SEED. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
