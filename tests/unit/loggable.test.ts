// loggable(): errors become log lines without the values a failed query carries.
import { describe, expect, it } from "vitest";
import { loggable } from "../../worker/errors";

describe("loggable", () => {
  it("keeps each message down the cause chain but drops a failed query's parameters", () => {
    const cause = new TypeError("Failed to establish the WebSocket connection");
    const err = new Error('Failed query: insert into "chat_messages" select * from json_to_recordset($1::json)\nparams: [{"content":"my PIN is 1234"}]', { cause });
    const line = loggable(err);
    expect(line).toContain("Failed query: insert into");
    expect(line).toContain("TypeError: Failed to establish the WebSocket connection");
    expect(line).not.toContain("PIN");
    expect(line).not.toContain("params");
  });

  it("shortens long messages and copes with causes that are not Errors", () => {
    const line = loggable(new Error("x".repeat(1_000), { cause: { type: "error", message: "socket closed" } }));
    expect(line.length).toBeLessThan(800);
    expect(line).toContain("socket closed");
    expect(loggable("plain")).toBe("string: plain");
  });
});
