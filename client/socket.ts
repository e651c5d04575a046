// A session's live socket for TypeScript frontends: authenticated connect, catch-up by seq after every
// reconnect, a heartbeat that notices a dead connection, and sends that survive reconnects (re-sent
// with the same clientId, which the server deduplicates).
import { PING_FRAME, type ClientFrame, type ErrorCode, type ServerFrame } from "../worker/protocol";
import type { ChatClient, Message, Session } from "./index";

export { CloseCodes, PING_FRAME } from "../worker/protocol";
export type { ClientFrame, ErrorCode };
export type Frame = ServerFrame<Message, Session>;
export type Ack = Extract<Frame, { type: "ack" }>;

/** The subset of the WebSocket API this client uses (the browser's, undici's or the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface ChatSocketOptions {
  /** The Worker's origin, e.g. https://chat.example.com (http(s) or ws(s)). */
  url: string;
  sessionId: string;
  /** A bearer token, or a function returning a fresh one for each connect. */
  token: string | (() => string | Promise<string>);
  /** The last seq this client already has; it receives everything after it. Default: only new messages. */
  since?: number;
  /** When the server says the gap is too large to replay, page it from history with this client. */
  client?: ChatClient;
  /** WebSocket implementation; defaults to the global one. */
  WebSocket?: WebSocketConstructor;
  /** Ping interval; a connection silent for `heartbeatMs + pongTimeoutMs` is dropped and redialled. */
  heartbeatMs?: number;
  pongTimeoutMs?: number;
  /** Reconnect backoff bounds (full jitter). */
  minReconnectMs?: number;
  maxReconnectMs?: number;
}

export type SocketState = "connecting" | "open" | "closed";

export interface ChatSocketEvents {
  /** Every message of the session, once each, in seq order (replayed ones included). */
  message: (message: Message) => void;
  ready: (frame: Extract<Frame, { type: "ready" }>) => void;
  typing: (frame: Extract<Frame, { type: "typing" }>) => void;
  presence: (frame: Extract<Frame, { type: "presence" }>) => void;
  read: (frame: Extract<Frame, { type: "read" }>) => void;
  session: (session: Session) => void;
  /** An agent turn changed state; when joining mid-turn, `text`/`index` carry the reply so far. */
  turn: (turn: Extract<Frame, { type: "turn" }>["turn"]) => void;
  /** A piece of the reply being written (apply those above the `index` you have, per turn and attempt). */
  delta: (frame: Extract<Frame, { type: "delta" }>) => void;
  /** The server could not replay a gap; fired before the client pages it (when it has `client`). */
  resync: (frame: Extract<Frame, { type: "resync" }>) => void;
  /** An error frame not tied to one of this client's sends. */
  error: (frame: Extract<Frame, { type: "error" }>) => void;
  state: (state: SocketState, detail?: { code: number; reason: string }) => void;
  /** Every frame as received, for debugging and tests. */
  frame: (frame: Frame) => void;
}

/** A send the server refused: `code` says why; RATE_LIMITED carries `retryAfterMs`. */
export class ChatSocketError extends Error {
  override name = "ChatSocketError";
  constructor(
    readonly code: ErrorCode | "CLOSED",
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

interface Outgoing {
  frame: Extract<ClientFrame, { type: "send" }>;
  resolve: (ack: Ack) => void;
  reject: (err: ChatSocketError) => void;
}

/** Close codes after which the session is gone for good: no reconnect. */
const FINAL_CLOSE_CODES = new Set([4000, 4001]);

export class ChatSocket {
  /** The highest seq delivered to `message` listeners. */
  lastSeq: number;
  state: SocketState = "connecting";

  private ws: WebSocketLike | null = null;
  private readonly listeners = new Map<keyof ChatSocketEvents, Set<(...args: any[]) => void>>();
  private readonly outgoing = new Map<string, Outgoing>();
  private attempts = 0;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private lastHeard = 0;
  private ready = false;
  private resyncing: Promise<void> | null = null;
  private resyncRun = 0;
  /** Connects that failed in a row without reaching `ready`. */
  private failures = 0;
  private readonly WS: WebSocketConstructor;

  constructor(private readonly opts: ChatSocketOptions) {
    this.lastSeq = opts.since ?? -1;
    const WS = opts.WebSocket ?? (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new Error("no WebSocket implementation: pass one as `WebSocket`");
    this.WS = WS;
    void this.connect();
  }

  on<E extends keyof ChatSocketEvents>(event: E, listener: ChatSocketEvents[E]): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * Sends a message; resolves with the server's ack once it is durably stored. While disconnected it
   * waits and is sent (again, with the same clientId) after the reconnect.
   */
  send(content: string, opts: { clientId?: string; messageType?: string; metadata?: Record<string, unknown> } = {}): Promise<Ack> {
    if (this.state === "closed") return Promise.reject(new ChatSocketError("CLOSED", "the socket is closed"));
    const clientId = opts.clientId ?? crypto.randomUUID();
    const frame: Outgoing["frame"] = { type: "send", clientId, content, ...(opts.messageType ? { messageType: opts.messageType } : {}), ...(opts.metadata ? { metadata: opts.metadata } : {}) };
    const existing = this.outgoing.get(clientId);
    if (existing) return new Promise((resolve, reject) => this.outgoing.set(clientId, { frame, resolve: (a) => (existing.resolve(a), resolve(a)), reject: (e) => (existing.reject(e), reject(e)) }));
    return new Promise((resolve, reject) => {
      this.outgoing.set(clientId, { frame, resolve, reject });
      if (this.ready) this.raw(frame);
    });
  }

  typing(isTyping: boolean) {
    if (this.ready) this.raw({ type: "typing", isTyping });
  }

  markRead(seq: number) {
    if (this.ready) this.raw({ type: "read", seq });
  }

  /** Stops an agent turn on the server (the running one when no id is given); the `turn` frame says when. */
  cancelTurn(turnId?: string) {
    if (this.ready) this.raw(turnId ? { type: "cancel", turnId } : { type: "cancel" });
  }

  /** Closes for good; pending sends are rejected. */
  close() {
    this.finish({ code: 1000, reason: "closed by client" });
  }

  // ---- connection ------------------------------------------------------------------------------

  private async connect() {
    if (this.state === "closed") return;
    this.setState("connecting");
    this.ready = false;
    let token: string;
    try {
      token = typeof this.opts.token === "string" ? this.opts.token : await this.opts.token();
    } catch {
      return this.scheduleReconnect();
    }
    // close() may have been called while the token was fetched.
    if ((this.state as SocketState) === "closed") return;
    const base = this.opts.url.replace(/^http/, "ws").replace(/\/$/, "");
    const query = this.lastSeq >= 0 ? `?since=${this.lastSeq}` : "";
    const ws = new this.WS(`${base}/api/sessions/${this.opts.sessionId}/ws${query}`, ["edge-chat", `bearer.${token}`]);
    this.ws = ws;
    this.lastHeard = Date.now();
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      this.onFrame(JSON.parse(String(ev.data)) as Frame);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopHeartbeat();
      if (FINAL_CLOSE_CODES.has(ev.code)) return this.finish(ev);
      if (!this.ready && ++this.failures >= 3) return void this.checkSession();
      this.scheduleReconnect();
    };
    ws.onerror = () => {};
    this.startHeartbeat(ws);
  }

  /**
   * A refused upgrade looks like any dropped connection to a browser. After a few in a row, ask the
   * API (when there is a client) whether the session can still be joined, and stop if not.
   */
  private async checkSession() {
    const client = this.opts.client;
    if (client) {
      try {
        const { session } = await client.sessions.get.query({ sessionId: this.opts.sessionId });
        if (session.status === "ended" || session.status === "expired") {
          return this.finish({ code: session.status === "ended" ? 4000 : 4001, reason: `session ${session.status}` });
        }
      } catch (err) {
        const code = (err as { data?: { code?: string } }).data?.code;
        if (code === "NOT_FOUND" || code === "UNAUTHORIZED" || code === "FORBIDDEN") {
          return this.finish({ code: 4003, reason: `session not available: ${code}` });
        }
      }
    }
    this.scheduleReconnect();
  }

  /** Drops the current connection (without waiting for its close) and dials again with `since`. */
  private redial() {
    const ws = this.ws;
    this.ws = null;
    this.stopHeartbeat();
    try {
      ws?.close(4100, "redial");
    } catch {}
    this.scheduleReconnect();
  }

  private scheduleReconnect() {
    if (this.state === "closed") return;
    this.setState("connecting");
    this.ready = false;
    const min = this.opts.minReconnectMs ?? 250;
    const max = this.opts.maxReconnectMs ?? 15_000;
    const delay = Math.random() * Math.min(max, min * 2 ** this.attempts++);
    this.reconnectTimer = setTimeout(() => void this.connect(), delay);
  }

  private startHeartbeat(ws: WebSocketLike) {
    const every = this.opts.heartbeatMs ?? 20_000;
    const timeout = this.opts.pongTimeoutMs ?? 10_000;
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastHeard > every + timeout) {
        // Open on paper, silent in fact: drop it and dial again.
        this.ws = null;
        this.stopHeartbeat();
        try {
          ws.close(4100, "heartbeat timeout");
        } catch {}
        return this.scheduleReconnect();
      }
      if (ws.readyState === 1) ws.send(PING_FRAME);
    }, every);
  }

  private stopHeartbeat() {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private finish(detail: { code: number; reason: string }) {
    if (this.state === "closed") return;
    this.stopHeartbeat();
    clearTimeout(this.reconnectTimer);
    const ws = this.ws;
    this.ws = null;
    try {
      ws?.close(1000, "bye");
    } catch {}
    this.state = "closed";
    for (const out of this.outgoing.values()) out.reject(new ChatSocketError("CLOSED", `the socket closed: ${detail.reason || detail.code}`));
    this.outgoing.clear();
    this.emit("state", "closed", detail);
  }

  private setState(state: SocketState) {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", state);
  }

  // ---- frames ----------------------------------------------------------------------------------

  private onFrame(frame: Frame) {
    this.emit("frame", frame);
    switch (frame.type) {
      case "message":
        return this.deliver(frame.message);
      case "ready":
        this.ready = true;
        this.attempts = 0;
        this.failures = 0;
        if (this.lastSeq < 0) this.lastSeq = frame.lastSeq;
        this.setState("open");
        this.emit("ready", frame);
        // Whatever was not acknowledged before the drop goes again, in order; duplicates are acked once.
        for (const out of this.outgoing.values()) this.raw(out.frame);
        return;
      case "ack": {
        const out = this.outgoing.get(frame.clientId);
        if (!out) return;
        this.outgoing.delete(frame.clientId);
        return out.resolve(frame);
      }
      case "error": {
        const out = frame.clientId ? this.outgoing.get(frame.clientId) : undefined;
        if (!out) return this.emit("error", frame);
        this.outgoing.delete(frame.clientId!);
        return out.reject(new ChatSocketError(frame.code, frame.message, frame.retryAfterMs));
      }
      case "resync":
        this.emit("resync", frame);
        return void this.pageGap(frame.fromSeq, frame.lastSeq);
      case "session":
        this.emit("session", frame.session);
        // The server closes the socket next (4000/4001); no need to wait for the close handshake.
        if (frame.session.status === "ended" || frame.session.status === "expired") {
          this.finish({ code: frame.session.status === "ended" ? 4000 : 4001, reason: `session ${frame.session.status}` });
        }
        return;
      case "turn":
        return this.emit("turn", frame.turn);
      case "typing":
      case "presence":
      case "read":
      case "delta":
        return this.emit(frame.type, frame as never);
      case "pong":
        return;
    }
  }

  private deliver(message: Message) {
    if (this.resyncing || message.seq <= this.lastSeq) return;
    if (this.lastSeq >= 0 && message.seq !== this.lastSeq + 1) {
      // Something was skipped (it should not be): fetch it by reconnecting from what we have.
      return this.redial();
    }
    this.lastSeq = message.seq;
    this.emit("message", message);
  }

  /** Pages a gap the server would not replay from history, then carries on live. */
  private pageGap(fromSeq: number, lastSeq: number) {
    const client = this.opts.client;
    if (!client) {
      // Without a client the application pages history itself; live messages continue from here.
      this.lastSeq = Math.max(this.lastSeq, lastSeq);
      return;
    }
    const run = async () => {
      let after = fromSeq - 1;
      while (after < lastSeq) {
        const page = await client.messages.history.query({ sessionId: this.opts.sessionId, after, limit: 200 });
        for (const m of page.messages) {
          if (m.seq > this.lastSeq) {
            this.lastSeq = m.seq;
            this.emit("message", m);
          }
        }
        if (page.messages.length === 0 || page.nextCursor === null) break;
        after = page.nextCursor;
      }
    };
    const runId = ++this.resyncRun;
    this.resyncing = run()
      .catch(() => {})
      .finally(() => {
        if (runId !== this.resyncRun) return;
        this.resyncing = null;
        // Whatever arrived live during the paging (or was not paged, on failure) comes by
        // reconnecting from lastSeq: detach first, so no live frame slips in before that.
        this.redial();
      });
  }

  private raw(frame: ClientFrame) {
    try {
      this.ws?.send(JSON.stringify(frame));
    } catch {}
  }

  private emit<E extends keyof ChatSocketEvents>(event: E, ...args: Parameters<ChatSocketEvents[E]>) {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        listener(...args);
      } catch (err) {
        console.error(`ChatSocket ${event} listener failed`, err);
      }
    }
  }
}
