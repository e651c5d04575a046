// One request and response example per REST operation, keyed by tRPC procedure; typed by the router,
// checked against the procedures' zod schemas by tests/e2e/docs.test.ts, merged into /openapi.json.
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "./routers";
import type { Message, Session } from "./schemas";

type Inputs = inferRouterInputs<AppRouter>;
type Outputs = inferRouterOutputs<AppRouter>;

/** `input` is the whole procedure input: path parameters, query parameters and body alike. */
export interface OperationExample<I, O> {
  input: I;
  output: O;
}

export type OperationExamples = {
  [R in keyof Inputs]?: { [P in keyof Inputs[R]]?: OperationExample<Inputs[R][P], Outputs[R][P]> };
};

const sessionId = "8d3c1f52-7a4e-8b21-9c3d-4e5f6a7b8c9d";
const turnId = "0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90";

const session: Session = {
  id: sessionId,
  userId: "alice",
  agentType: "primary",
  title: "Card declined",
  status: "active",
  messageCount: 2,
  lastSeq: 2,
  lastActivityAt: "2026-11-23T10:15:03.540Z",
  expiresAt: "2026-11-30T10:14:55.310Z",
  resolvedAt: null,
  resolutionNotes: null,
  endedAt: null,
  endedReason: null,
  metadata: { channel: "web" },
  context: {},
  handler: "agent",
  handlerUserId: null,
  handlerSince: null,
  createdAt: "2026-11-23T10:14:55.310Z",
  updatedAt: "2026-11-23T10:15:03.540Z",
};

const customerMessage: Message = {
  id: "5a2b7c1d-3e4f-4a5b-8c6d-7e8f9a0b1c2d",
  sessionId,
  seq: 1,
  clientId: "c-1f6a",
  userId: "alice",
  direction: "incoming",
  content: "My card was declined",
  messageType: "text",
  metadata: {},
  intent: null,
  entities: null,
  sentiment: null,
  confidence: null,
  agentInfo: null,
  processingMs: null,
  errorInfo: null,
  parentId: null,
  createdAt: "2026-11-23T10:15:02.118Z",
};

const agentReply: Message = {
  ...customerMessage,
  id: "9e1d2c3b-4a5f-4e6d-9c7b-8a9f0e1d2c3b",
  seq: 2,
  clientId: null,
  userId: "agent:primary",
  direction: "outgoing",
  content: "Sorry to hear that. I can see a declined payment at 10:14 — shall I unblock the card?",
  intent: "card_declined",
  confidence: 0.92,
  agentInfo: { kind: "agent", agentType: "primary", attempt: 1, turnId },
  processingMs: 1422,
  parentId: customerMessage.id,
  createdAt: "2026-11-23T10:15:03.540Z",
};

const newSession: Session = { ...session, messageCount: 0, lastSeq: 0, lastActivityAt: session.createdAt, updatedAt: session.createdAt };

export const operationExamples: OperationExamples = {
  sessions: {
    create: {
      input: { agentType: "primary", title: "Card declined", metadata: { channel: "web" } },
      output: newSession,
    },
    get: {
      input: { sessionId },
      output: { session, messages: [customerMessage, agentReply], nextCursor: null },
    },
    list: {
      input: { userId: "alice", type: "unresolved", limit: 20 },
      output: {
        sessions: [{ ...session, lastMessage: { seq: 2, direction: "outgoing", content: agentReply.content, createdAt: agentReply.createdAt } }],
        nextCursor: null,
      },
    },
    rename: {
      input: { sessionId, title: "Card declined at the supermarket" },
      output: { ...session, title: "Card declined at the supermarket", updatedAt: "2026-11-23T10:16:00.000Z" },
    },
    end: {
      input: { sessionId, reason: "duplicate" },
      output: { ...session, status: "ended", endedAt: "2026-11-23T10:20:00.000Z", endedReason: "duplicate", updatedAt: "2026-11-23T10:20:00.000Z" },
    },
    resume: {
      input: { sessionId },
      output: { session: { ...session, updatedAt: "2026-11-24T08:00:00.000Z" }, messages: [customerMessage, agentReply], nextCursor: null },
    },
    resolve: {
      input: { sessionId, notes: "card unblocked" },
      output: { ...session, status: "resolved", resolvedAt: "2026-11-23T10:18:00.000Z", resolutionNotes: "card unblocked", updatedAt: "2026-11-23T10:18:00.000Z" },
    },
    waiting: {
      input: { limit: 20 },
      output: { sessions: [{ ...session, handler: "human", handlerSince: "2026-11-23T10:17:00.000Z" }] },
    },
    handoff: {
      input: { sessionId, to: "human" },
      output: { ...session, handler: "human", handlerUserId: "ops", handlerSince: "2026-11-23T10:17:00.000Z", updatedAt: "2026-11-23T10:17:00.000Z" },
    },
  },
  messages: {
    search: {
      input: { q: "card declined", limit: 20 },
      output: {
        results: [
          {
            sessionId,
            sessionTitle: session.title,
            messageId: customerMessage.id,
            seq: customerMessage.seq,
            direction: "incoming",
            createdAt: customerMessage.createdAt,
            rank: 0.42,
            snippet: "My <mark>card</mark> was <mark>declined</mark>",
          },
        ],
        nextCursor: null,
      },
    },
    send: {
      input: { sessionId, content: "My card was declined", clientId: "c-1f6a", messageType: "text", metadata: {} },
      output: customerMessage,
    },
    history: {
      input: { sessionId, limit: 50, before: 120 },
      output: { messages: [customerMessage, agentReply], nextCursor: null },
    },
  },
  users: {
    stats: {
      input: { userId: "alice" },
      output: {
        userId: "alice",
        sessions: { total: 3, byStatus: { active: 1, idle: 0, resolved: 2, ended: 0, expired: 0 }, byAgentType: { primary: 2, research: 1 } },
        messages: { total: 14, byDirection: { incoming: 7, outgoing: 6, system: 1 }, byAgentType: { primary: 10, research: 4 } },
      },
    },
  },
  admin: {
    deadLetters: {
      input: { limit: 50 },
      output: {
        deadLetters: [
          {
            id: 17,
            sessionId,
            seq: 42,
            messageId: "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
            error: 'insert or update on table "chat_messages" violates foreign key constraint',
            payload: '{"seq":42,"content":"…"}',
            createdAt: "2026-11-23T11:02:00.000Z",
          },
        ],
        nextCursor: null,
      },
    },
  },
  agents: {
    deadLetters: {
      input: { limit: 50 },
      output: {
        turns: [
          {
            turnId,
            sessionId,
            agentType: "primary",
            messageId: customerMessage.id,
            state: "failed",
            attempts: 3,
            error: "HTTP 503",
            createdAt: "2026-11-23T10:15:02.200Z",
            updatedAt: "2026-11-23T10:15:09.800Z",
          },
        ],
        nextCursor: null,
      },
    },
    retry: {
      input: { turnId },
      output: { turnId, sessionId, state: "queued" },
    },
    health: {
      input: { hours: 24 },
      output: {
        since: "2026-11-22T10:00:00.000Z",
        agents: [
          {
            agentType: "primary",
            configured: true,
            calls: 412,
            failures: 2,
            retriesPending: 0,
            deadLetters: 2,
            p50Ms: 1380,
            p95Ms: 4210,
            firstDeltaP50Ms: 310,
            lastError: "no answer within 30000 ms",
            lastErrorAt: "2026-11-23T09:41:12.000Z",
          },
        ],
      },
    },
  },
  turns: {
    cancel: {
      input: { sessionId, turnId },
      output: { turnId, state: "cancelled" },
    },
  },
};
