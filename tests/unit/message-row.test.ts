// The session object's message row: every field of a message survives storage (declared once, from the Drizzle table).
import { describe, expect, it } from "vitest";
import { messageFields, messageValues, rowToMessage } from "../../db/message-row";
import { messageSchema, type Message } from "../../worker/schemas";

const full: Message = {
  id: "5f0c8f0e-0000-4000-8000-000000000002", sessionId: "5f0c8f0e-0000-4000-8000-000000000001", seq: 7, clientId: null,
  userId: "agent:primary", direction: "outgoing", content: "Your balance is 12.00", messageType: "text", metadata: { redactions: [] },
  intent: "balance", entities: [{ type: "account", value: "checking" }], sentiment: -0.25, confidence: 0.875,
  agentInfo: { agentType: "primary", attempt: 2 }, processingMs: 123, errorInfo: { agent: "primary", error: "timeout" },
  parentId: "5f0c8f0e-0000-4000-8000-000000000003", createdAt: "2026-11-23T12:00:00.123Z",
};

describe("message row", () => {
  it("covers every field of the API's message but the session id", () => {
    expect(messageFields.map((f) => f.key).sort()).toEqual(Object.keys(messageSchema.shape).filter((k) => k !== "sessionId").sort());
  });

  it("round-trips every field, nulls included", () => {
    const row = Object.fromEntries(messageFields.map((f, i) => [f.column, messageValues(full)[i]!]));
    expect(rowToMessage(row, full.sessionId)).toEqual(full);
    const sparse: Message = { ...full, intent: null, entities: null, sentiment: null, confidence: null, agentInfo: null, processingMs: null, errorInfo: null, parentId: null };
    const sparseRow = Object.fromEntries(messageFields.map((f, i) => [f.column, messageValues(sparse)[i]!]));
    expect(rowToMessage(sparseRow, full.sessionId)).toEqual(sparse);
  });
});
