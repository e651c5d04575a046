// The session's live sockets (hibernation API): sending frames, broadcasting, and who is online.
import { CloseCodes, type ErrorCode, type ServerFrame } from "../protocol";
import type { Attachment } from "./contract";

export type Frame = ServerFrame;

export class Sockets {
  /** The online users last announced (in memory; after a wake-up the next change is announced). */
  private lastOnline: string | null = null;

  constructor(
    private readonly ctx: DurableObjectState,
    /** Sees every broadcast frame too (the open UI message streams follow turns through it). */
    private readonly tap: (frame: Frame) => void = () => {},
  ) {}

  accept(ws: WebSocket, caller: Attachment) {
    this.ctx.acceptWebSocket(ws, [caller.userId]);
    ws.serializeAttachment(caller satisfies Attachment);
  }

  static caller(ws: WebSocket): Attachment {
    return ws.deserializeAttachment() as Attachment;
  }

  send(ws: WebSocket, frame: Frame) {
    try {
      ws.send(JSON.stringify(frame));
    } catch {
      // The socket is closing; its close handler tidies up.
    }
  }

  error(ws: WebSocket, code: ErrorCode, message: string, clientId?: string, retryAfterMs?: number) {
    this.send(ws, { type: "error", code, message, ...(clientId ? { clientId } : {}), ...(retryAfterMs ? { retryAfterMs } : {}) });
  }

  broadcast(frame: Frame, except?: WebSocket | null) {
    this.tap(frame);
    const text = JSON.stringify(frame);
    for (const ws of this.ctx.getWebSockets()) {
      if (ws === except) continue;
      try {
        ws.send(text);
      } catch {}
    }
  }

  /** Closes every socket because the session ended or expired. */
  closeAll(status: "ended" | "expired") {
    const code = status === "ended" ? CloseCodes.sessionEnded : CloseCodes.sessionExpired;
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.close(code, `session ${status}`);
      } catch {}
    }
  }

  /** Completes a close the client started. Echoing 1005/1006 throws in workerd and leaves the client waiting. */
  static finishClose(ws: WebSocket, code: number) {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, "bye");
    } catch {}
  }

  /**
   * Tells a joining socket who is online, and everyone else only when that set of users changed
   * (a user's second device joining changes nothing): joins cost O(sockets), not O(sockets²).
   */
  presence(leaving?: WebSocket, joined?: WebSocket) {
    const sockets = this.ctx.getWebSockets().filter((ws) => ws !== leaving && ws.readyState === WebSocket.OPEN);
    const online = [...new Set(sockets.map((ws) => Sockets.caller(ws).userId))].sort();
    if (joined) this.send(joined, { type: "presence", online });
    const key = online.join("\n");
    if (key === this.lastOnline) return;
    this.lastOnline = key;
    this.broadcast({ type: "presence", online }, joined ?? leaving);
  }
}
