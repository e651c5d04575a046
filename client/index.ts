// What a frontend imports: `createChatClient` — the typed tRPC client for every procedure plus
// `connect(sessionId)`, the live session socket — and the API's types. No server code: the router
// is imported as a type only, the protocol module depends on zod alone.
import { createTRPCClient, httpBatchLink, type TRPCClient } from "@trpc/client";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "../worker/routers";
import { SessionSocket, type ConnectOptions } from "./socket";

export type { AppRouter };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type { Message, Session, SessionStatus, TurnState } from "../worker/shapes";
export type { ClientFrame, ErrorCode, ServerFrame } from "../worker/protocol";
export { clientFrameSchema, serverFrameSchema, CloseCodes, finalTurnStates } from "../worker/protocol";
export { ChatSocketError, SessionSocket } from "./socket";
export type { ConnectOptions, DeltaEvent, SendOptions, SocketErrorEvent, SocketEvents, SocketState, Turn } from "./socket";

export interface ChatClientOptions {
  /** The Worker's origin, e.g. https://chat.example.com */
  url: string;
  /** Returns the bearer token (a JWT); called for every HTTP request and every socket (re)connect, so it may refresh. */
  getToken: () => string | Promise<string>;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  /** Default: the global WebSocket. In Node before 22, pass `WebSocket` from the "ws" package. */
  WebSocket?: unknown;
}

export type ChatClient = TRPCClient<AppRouter> & {
  /** Opens the live socket of a session (see SessionSocket). */
  connect(sessionId: string, opts?: ConnectOptions): SessionSocket;
};

export function createChatClient(opts: ChatClientOptions): ChatClient {
  const origin = opts.url.replace(/\/$/, "");
  const trpc = createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${origin}/trpc`,
        headers: async () => ({ authorization: `Bearer ${await opts.getToken()}` }),
        // Bound: a browser's fetch refuses to be called as a method of another object.
        ...(opts.fetch ? { fetch: opts.fetch } : { fetch: (input, init) => globalThis.fetch(input, init) }),
      }),
    ],
  });
  const connect = (sessionId: string, connectOpts?: ConnectOptions) =>
    new SessionSocket(
      {
        url: origin,
        sessionId,
        getToken: opts.getToken,
        WebSocket: opts.WebSocket,
        history: (q) => trpc.messages.history.query(q),
        getSession: async (id) => (await trpc.sessions.get.query({ sessionId: id })).session,
      },
      connectOpts,
    );
  // tRPC's client is itself a proxy over the router's keys; `connect` sits in front of it.
  return new Proxy(trpc, {
    get: (target, key, receiver) => (key === "connect" ? connect : Reflect.get(target, key, receiver)),
  }) as ChatClient;
}
