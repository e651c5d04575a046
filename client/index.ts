// What a TypeScript frontend imports: the typed tRPC client and the router's input/output types.
import { createTRPCClient, httpBatchLink, type TRPCLink } from "@trpc/client";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "../worker/routers";

export type { AppRouter };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type Session = RouterOutputs["sessions"]["get"]["session"];
export type Message = RouterOutputs["messages"]["send"];

export interface ChatClientOptions {
  /** The Worker's origin, e.g. https://chat.example.com */
  url: string;
  /** A bearer token, or a function returning a fresh one for each request. */
  token: string | (() => string | Promise<string>);
  fetch?: typeof fetch;
  /** Extra links before the HTTP link (logging, retries). */
  links?: TRPCLink<AppRouter>[];
}

export function createChatClient(opts: ChatClientOptions) {
  const token = typeof opts.token === "string" ? () => opts.token as string : opts.token;
  return createTRPCClient<AppRouter>({
    links: [
      ...(opts.links ?? []),
      httpBatchLink({
        url: `${opts.url.replace(/\/$/, "")}/trpc`,
        headers: async () => ({ authorization: `Bearer ${await token()}` }),
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
      }),
    ],
  });
}

export type ChatClient = ReturnType<typeof createChatClient>;

export { ChatSocket, ChatSocketError, CloseCodes } from "./socket";
export type { Ack, ChatSocketEvents, ChatSocketOptions, Frame, SocketState, WebSocketConstructor } from "./socket";
