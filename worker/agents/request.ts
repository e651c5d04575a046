// What we send an agent: the request body in its format (edge-chat, openai-chat, n8n-chat) and the
// Standard Webhooks signature headers.
import { Webhook } from "standardwebhooks";
import type { Message } from "../schemas";
import type { ReplyFields } from "./decode";
import type { AgentConfig } from "./registry";

/** An earlier pipeline step's reply, passed on to the later steps; the stored reply carries what every step added. */
export interface StepResult extends ReplyFields {
  agentType: string;
  output: string;
}

export interface CallInput {
  turnId: string;
  callbackUrl: string;
  session: { id: string; agentType: string; context: Record<string, unknown>; state: Record<string, unknown>; metadata: Record<string, unknown> };
  /** The customer's messages this turn answers, oldest first (several when they were merged). */
  messages: Message[];
  /** Earlier messages of the session, oldest first (at most the agent's historyLimit). */
  history: Message[];
  previous: StepResult[];
}

/** A compact message for agents: what a reply needs, nothing internal. */
const forAgent = (m: Message) => ({
  id: m.id, seq: m.seq, direction: m.direction, content: m.content, messageType: m.messageType, metadata: m.metadata,
  intent: m.intent, entities: m.entities, agentInfo: m.agentInfo, createdAt: m.createdAt,
});

export function requestBody(agent: AgentConfig, input: CallInput): unknown {
  const last = input.messages.at(-1)!;
  const content = input.messages.map((m) => m.content).join("\n");
  switch (agent.format) {
    case "openai-chat": {
      const role = (m: Message) => (m.direction === "incoming" ? "user" : "assistant");
      return {
        ...(agent.model ? { model: agent.model } : {}),
        messages: [
          ...(agent.systemPrompt ? [{ role: "system", content: agent.systemPrompt }] : []),
          // Our own notices ("the assistant is unavailable") are not the assistant's words.
          ...input.history.filter((m) => m.direction !== "system").map((m) => ({ role: role(m), content: m.content })),
          ...input.messages.map((m) => ({ role: "user", content: m.content })),
        ],
        stream: true,
      };
    }
    case "n8n-chat":
      return {
        action: "sendMessage",
        sessionId: input.session.id,
        chatInput: content,
        metadata: { turnId: input.turnId, callbackUrl: input.callbackUrl, agentType: input.session.agentType, previous: input.previous },
      };
    default:
      return {
        turnId: input.turnId,
        session: input.session,
        message: { ...forAgent(last), content },
        messages: input.messages.map(forAgent),
        history: input.history.map(forAgent),
        previous: input.previous,
        callbackUrl: input.callbackUrl,
      };
  }
}

/** A `whsec_` secret is base64 (Standard Webhooks); any other string is used as its UTF-8 bytes (n8n's Crypto node). */
export function webhookFor(secret: string): Webhook {
  return secret.startsWith("whsec_") ? new Webhook(secret) : new Webhook(new TextEncoder().encode(secret), { format: "raw" });
}

/** The signature headers for one delivery: the same `id` on every retry, so an agent can deduplicate. */
export function signatureHeaders(secret: string | undefined, id: string, body: string, now = new Date()): Record<string, string> {
  const headers: Record<string, string> = { "webhook-id": id, "webhook-timestamp": String(Math.floor(now.getTime() / 1000)) };
  if (secret) headers["webhook-signature"] = webhookFor(secret).sign(id, now, body);
  return headers;
}
