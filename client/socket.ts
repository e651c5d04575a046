// A live session socket: partysocket's ReconnectingWebSocket carries it (backoff, connection timeout, a
// fresh token on every dial); this module adds the session protocol on top: resume with `since`, each
// message once and in seq order, gaps paged from history, sends acknowledged (and re-sent after a
// drop), a bounded offline queue, a heartbeat, and every server frame checked against the zod schema.
import ReconnectingWebSocket from "partysocket/ws";
import * as z from "zod";
import { CloseCodes, PING_FRAME, serverFrameSchema, type ClientFrame, type ErrorCode, type ServerFrame, type TurnFrameBody } from "../worker/protocol";
import type { Message, Session } from "../worker/shapes";
import { ReplyText } from "./reply-text";
import { SeqBuffer } from "./seq-buffer";

export type SocketState = "connecting" | "open" | "offline" | "closed";
export type Turn = TurnFrameBody;

export interface DeltaEvent {
  turnId: string;
  attempt: number;
  /** Counts 0, 1, 2… per attempt. */
  index: number;
  /** This piece of the reply. */
  delta: string;
  /** The reply so far for this turn and attempt. */
  text: string;
}

/** Codes of `error` events: the server's error codes, and what the client itself noticed. */
export type SocketErrorCode = ErrorCode | "BAD_FRAME" | "GAP" | "UNAUTHORIZED" | "CLOSED";

export interface SocketErrorEvent {
  code: SocketErrorCode | (string & {});
  message: string;
  clientId?: string;
  retryAfterMs?: number;
}

export interface SocketEvents {
  /** Every message of the session once, in seq order (your own sends too). */
  message: (message: Message) => void;
  /** An agent turn changed state; a socket joining mid-turn gets one with `text`/`index` (the reply so far). */
  turn: (turn: Turn) => void;
  /** A piece of an agent's reply; `text` is the reply so far. */
  delta: (delta: DeltaEvent) => void;
  typing: (typing: { userId: string; isTyping: boolean }) => void;
  presence: (presence: { online: string[] }) => void;
  read: (read: { userId: string; seq: number }) => void;
  session: (session: Session) => void;
  /** Error frames not tied to one of your sends, frames that failed validation (BAD_FRAME), history that could not be paged (GAP). */
  error: (error: SocketErrorEvent) => void;
  /** `detail` is given with "closed": the close code and why. */
  state: (state: SocketState, detail?: { code: number; reason: string }) => void;
}

export interface ConnectOptions {
  /** The last seq you already have: you receive every message after it. Default: only new messages. */
  since?: number;
  /** Sends that may wait while offline (default 100); beyond that `send` rejects with QUEUE_FULL. */
  maxQueue?: number;
  /** A ping goes out this often (default 20 s); a connection silent `pongTimeoutMs` after one is redialled. */
  heartbeatMs?: number;
  pongTimeoutMs?: number;
  /** Reconnect backoff: the first delay (default: random between 0.5 and 1.5 s per socket, so clients spread out) and the cap (10 s). */
  minReconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** A dial that has not opened after this long is abandoned and retried (default 4 s). */
  connectionTimeoutMs?: number;
  /** Messages per history request when a gap is paged (default 200). */
  historyPageSize?: number;
}

export interface SendOptions {
  /** The idempotency key: the same clientId is stored once. Default: a random UUID. */
  clientId?: string;
  messageType?: string;
  metadata?: Record<string, unknown>;
}

/** A send that did not go through: the server's code (RATE_LIMITED carries `retryAfterMs`), QUEUE_FULL or CLOSED. */
export class ChatSocketError extends Error {
  override name = "ChatSocketError";
  constructor(
    readonly code: ErrorCode | "QUEUE_FULL" | "CLOSED",
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What the socket needs from the client that made it. */
export interface SocketDeps {
  url: string;
  sessionId: string;
  getToken: () => string | Promise<string>;
  WebSocket?: unknown;
  history: (q: { sessionId: string; limit: number; after?: number; before?: number }) => Promise<{ messages: Message[]; nextCursor: number | null }>;
  getSession: (sessionId: string) => Promise<Session>;
}

type Frame<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;
type SendFrame = Extract<ClientFrame, { type: "send" }>;

interface Outgoing {
  frame: SendFrame;
  resolve: (message: Message) => void;
  reject: (err: ChatSocketError) => void;
  /** Written on the current connection and not answered yet. */
  sent: boolean;
}

/** Close codes after which the session is gone for good: no reconnect. */
const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([CloseCodes.sessionEnded, CloseCodes.sessionExpired]);
/** tRPC codes that mean this caller cannot join the session, however often it tries. */
const REFUSALS: ReadonlySet<string> = new Set(["NOT_FOUND", "UNAUTHORIZED", "FORBIDDEN", "BAD_REQUEST"]);
/** Delivered messages kept to answer acks with the stored message. */
const RECENT = 500;

export class SessionSocket {
  state: SocketState = "connecting";

  private readonly rws: ReconnectingWebSocket;
  private readonly seqs: SeqBuffer<Message>;
  private readonly replies = new ReplyText();
  private readonly listeners = new Map<keyof SocketEvents, Set<(...args: never[]) => void>>();
  private readonly outgoing = new Map<string, Outgoing>();
  private readonly recent = new Map<number, Message>();
  /** Acknowledged sends whose message has not been delivered yet, by seq. */
  private readonly ackWaiters = new Map<number, { resolve: (m: Message) => void; reject: (e: ChatSocketError) => void }[]>();
  private olderChain: Promise<unknown> = Promise.resolve();
  private readonly opts: Required<Omit<ConnectOptions, "since">>;
  /** `ready` arrived on the current connection: sends go out directly. */
  private ready = false;
  /**
   * After a RATE_LIMITED answer, sends go one at a time, each once the one before is stored, and a
   * refused one again after the wait the server named: a long offline queue drains at the session's
   * rate, in order, instead of failing past the burst.
   */
  private paced = false;
  private holdTimer: ReturnType<typeof setTimeout> | undefined;
  /** Dials in a row that ended before `ready`. */
  private failures = 0;
  private checking = false;
  private filling = false;
  private fillRetry: ReturnType<typeof setTimeout> | undefined;
  private fillFailures = 0;
  private oldest: number | null = null;
  private lastHeard = 0;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly deps: SocketDeps,
    options: ConnectOptions = {},
  ) {
    this.seqs = new SeqBuffer<Message>(options.since ?? -1);
    if (options.since !== undefined) this.oldest = options.since + 1;
    this.opts = {
      maxQueue: options.maxQueue ?? 100,
      heartbeatMs: options.heartbeatMs ?? 20_000,
      pongTimeoutMs: options.pongTimeoutMs ?? 10_000,
      minReconnectDelayMs: options.minReconnectDelayMs ?? 500 + Math.random() * 1_000,
      maxReconnectDelayMs: options.maxReconnectDelayMs ?? 10_000,
      connectionTimeoutMs: options.connectionTimeoutMs ?? 4_000,
      historyPageSize: options.historyPageSize ?? 200,
    };
    const base = deps.url.replace(/^http/, "ws").replace(/\/$/, "");
    this.rws = new ReconnectingWebSocket(
      // Called before every dial: resume from the last seq delivered.
      () => `${base}/api/sessions/${encodeURIComponent(deps.sessionId)}/ws${this.seqs.started ? `?since=${this.seqs.lastSeq}` : ""}`,
      // Also before every dial: a fresh token (browsers cannot set headers on a WebSocket).
      async () => ["edge-chat", `bearer.${await deps.getToken()}`],
      {
        WebSocket: deps.WebSocket,
        minReconnectionDelay: this.opts.minReconnectDelayMs,
        maxReconnectionDelay: this.opts.maxReconnectDelayMs,
        connectionTimeout: this.opts.connectionTimeoutMs,
        // Our own queue holds sends until `ready`; typing and read receipts are not worth replaying.
        maxEnqueuedMessages: 0,
        shouldReconnectOnClose: (ev) => this.state !== "closed" && !FINAL_CLOSE_CODES.has(ev.code),
      },
    );
    this.rws.onopen = () => {
      this.lastHeard = Date.now();
      this.startHeartbeat();
    };
    this.rws.onmessage = (ev) => this.onData(ev.data);
    this.rws.onclose = (ev) => this.onClose(ev.code, ev.reason);
    this.rws.onerror = (ev) => {
      // Node's `ws` says why an upgrade failed; a 4xx will not get better by retrying.
      const status = /Unexpected server response: (\d{3})/.exec((ev as { message?: string }).message ?? "")?.[1];
      if (status && status.startsWith("4")) void this.checkSession();
    };
  }

  /** Highest seq delivered to `message` listeners (-1 until known). */
  get lastSeq() {
    return this.seqs.lastSeq;
  }

  on<E extends keyof SocketEvents>(event: E, listener: SocketEvents[E]): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => void set.delete(listener);
  }

  /**
   * Sends a message; resolves with the stored message once the server acknowledged it. While the
   * socket is not open it waits (at most `maxQueue` sends) and goes out, in order, after the reconnect.
   */
  send(content: string, opts: SendOptions = {}): Promise<Message> {
    if (this.state === "closed") return Promise.reject(new ChatSocketError("CLOSED", "the socket is closed"));
    const clientId = opts.clientId ?? crypto.randomUUID();
    const frame: SendFrame = {
      type: "send",
      clientId,
      content,
      ...(opts.messageType !== undefined ? { messageType: opts.messageType } : {}),
      ...(opts.metadata !== undefined ? { metadata: opts.metadata } : {}),
    };
    const existing = this.outgoing.get(clientId);
    if (existing) {
      // The same clientId again: one message, both callers get it.
      return new Promise((resolve, reject) => {
        this.outgoing.set(clientId, { ...existing, resolve: (m) => (existing.resolve(m), resolve(m)), reject: (e) => (existing.reject(e), reject(e)) });
      });
    }
    if (!this.ready && this.outgoing.size >= this.opts.maxQueue) {
      return Promise.reject(new ChatSocketError("QUEUE_FULL", `${this.outgoing.size} messages are already waiting for the connection (maxQueue ${this.opts.maxQueue}); try again once it is open`));
    }
    return new Promise((resolve, reject) => {
      const out: Outgoing = { frame, resolve, reject, sent: false };
      this.outgoing.set(clientId, out);
      if (this.paced) this.next();
      else if (this.ready) this.transmit(out);
    });
  }

  /** Tells the others you are typing; dropped while offline. Returns whether it went out. */
  typing(isTyping: boolean) {
    return this.ready && this.write({ type: "typing", isTyping });
  }

  /** A read receipt up to `seq`; dropped while offline. */
  markRead(seq: number) {
    return this.ready && this.write({ type: "read", seq });
  }

  /** Stops an agent turn (the running one when no id is given); a `turn` event says when it stopped. */
  cancelTurn(turnId?: string) {
    return this.ready && this.write(turnId ? { type: "cancel", turnId } : { type: "cancel" });
  }

  /** The `limit` messages before the oldest one seen (or before `since`), in seq order; [] at the start of the session. */
  loadOlder(limit = 50): Promise<Message[]> {
    // One page at a time: two calls at once get consecutive pages, not the same one twice.
    const page = this.olderChain.then(() => this.olderPage(limit));
    this.olderChain = page.catch(() => {});
    return page;
  }

  private async olderPage(limit: number): Promise<Message[]> {
    if (this.oldest === null) await this.opened();
    const before = this.oldest ?? 1;
    if (before <= 1) return [];
    const page = await this.deps.history({ sessionId: this.deps.sessionId, before, limit });
    const first = page.messages[0];
    this.oldest = first ? Math.min(before, first.seq) : 1;
    return page.messages;
  }

  /** Resolves once the socket has been open (so it knows where the session stands). */
  private opened(): Promise<void> {
    if (this.seqs.started) return Promise.resolve();
    if (this.state === "closed") return Promise.reject(new ChatSocketError("CLOSED", "the socket is closed"));
    return new Promise((resolve, reject) => {
      const off = this.on("state", (state) => {
        if (state === "open") resolve();
        else if (state === "closed") reject(new ChatSocketError("CLOSED", "the socket closed before it opened"));
        else return;
        off();
      });
    });
  }

  /** Closes for good: no reconnect; sends still waiting are rejected with CLOSED. */
  close() {
    this.finish({ code: 1000, reason: "closed by client" });
  }

  // ---- connection ------------------------------------------------------------------------------

  private onClose(code: number, reason: string) {
    const wasReady = this.ready;
    this.ready = false;
    this.stopHeartbeat();
    if (this.state === "closed") return;
    if (FINAL_CLOSE_CODES.has(code)) return this.finish({ code, reason: reason || (code === CloseCodes.sessionEnded ? "session ended" : "session expired") });
    this.setState("offline");
    // A refused upgrade looks like any dropped connection to a browser: after two in a row, ask the API.
    if (!wasReady && ++this.failures >= 2) void this.checkSession();
  }

  /** Stops for good if the session cannot be joined (ended, expired, gone, not yours); otherwise lets the dialling go on. */
  private async checkSession() {
    if (this.checking || this.state === "closed") return;
    this.checking = true;
    try {
      const session = await this.deps.getSession(this.deps.sessionId);
      if (session.status === "ended" || session.status === "expired") {
        this.finish({ code: session.status === "ended" ? CloseCodes.sessionEnded : CloseCodes.sessionExpired, reason: `session ${session.status}` });
      }
    } catch (err) {
      const code = (err as { data?: { code?: unknown } } | null)?.data?.code;
      if (typeof code === "string" && REFUSALS.has(code)) {
        const message = err instanceof Error ? err.message : code;
        this.emit("error", { code, message });
        this.finish({ code: 4003, reason: `session not available: ${code}` });
      }
      // Anything else (offline, 5xx): keep dialling.
    } finally {
      this.failures = 0;
      this.checking = false;
    }
  }

  private startHeartbeat() {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => {
      // One ping at a time: the next goes out once this one was answered (or the link was redialled).
      if (this.pongTimer !== undefined) return;
      const sentAt = Date.now();
      this.rws.send(PING_FRAME);
      this.pongTimer = setTimeout(() => {
        this.pongTimer = undefined;
        // Open on paper, silent in fact: drop it and dial again.
        if (this.lastHeard < sentAt && this.state !== "closed") this.rws.reconnect(4100, "heartbeat timeout");
      }, this.opts.pongTimeoutMs);
    }, this.opts.heartbeatMs);
  }

  private stopHeartbeat() {
    clearInterval(this.heartbeat);
    clearTimeout(this.pongTimer);
    this.pongTimer = undefined;
  }

  private finish(detail: { code: number; reason: string }) {
    if (this.state === "closed") return;
    this.state = "closed";
    this.ready = false;
    this.stopHeartbeat();
    clearTimeout(this.fillRetry);
    clearTimeout(this.holdTimer);
    this.rws.close(1000, "bye");
    const err = new ChatSocketError("CLOSED", `the socket closed: ${detail.reason || detail.code}`);
    for (const out of this.outgoing.values()) out.reject(err);
    this.outgoing.clear();
    for (const waiting of this.ackWaiters.values()) for (const w of waiting) w.reject(err);
    this.ackWaiters.clear();
    this.emit("state", "closed", detail);
  }

  private setState(state: SocketState) {
    if (this.state === state || this.state === "closed") return;
    this.state = state;
    this.emit("state", state);
  }

  // ---- frames ----------------------------------------------------------------------------------

  private onData(data: unknown) {
    this.lastHeard = Date.now();
    if (typeof data !== "string") return this.emit("error", { code: "BAD_FRAME", message: "the server sent a binary frame; frames are JSON text" });
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch {
      return this.emit("error", { code: "BAD_FRAME", message: `the server sent a frame that is not JSON: ${data.slice(0, 100)}` });
    }
    const parsed = serverFrameSchema.safeParse(raw);
    if (!parsed.success) {
      const type = typeof raw === "object" && raw !== null && "type" in raw ? String(raw.type) : "?";
      return this.emit("error", { code: "BAD_FRAME", message: `the server sent an invalid "${type}" frame: ${z.prettifyError(parsed.error)}` });
    }
    this.onFrame(parsed.data);
  }

  private onFrame(frame: ServerFrame) {
    switch (frame.type) {
      case "message":
        return this.receive([frame.message]);
      case "ready":
        return this.onReady(frame);
      case "ack":
        return this.onAck(frame);
      case "error":
        return this.onError(frame);
      case "resync":
        // The gap is too large to replay: page it from history; live messages wait behind it.
        this.seqs.note(frame.lastSeq);
        return;
      case "session":
        this.emit("session", frame.session);
        // The server closes the socket next (4000/4001); no need to wait for the close handshake.
        if (frame.session.status === "ended" || frame.session.status === "expired") {
          this.finish({ code: frame.session.status === "ended" ? CloseCodes.sessionEnded : CloseCodes.sessionExpired, reason: `session ${frame.session.status}` });
        }
        return;
      case "turn":
        this.replies.turn(frame.turn);
        return this.emit("turn", frame.turn);
      case "delta": {
        const text = this.replies.delta(frame);
        if (text !== null) this.emit("delta", { turnId: frame.turnId, attempt: frame.attempt, index: frame.index, delta: frame.text, text });
        return;
      }
      case "typing":
        return this.emit("typing", { userId: frame.userId, isTyping: frame.isTyping });
      case "presence":
        return this.emit("presence", { online: frame.online });
      case "read":
        return this.emit("read", { userId: frame.userId, seq: frame.seq });
      case "pong":
        return;
    }
  }

  private onReady(frame: Frame<"ready">) {
    this.ready = true;
    this.failures = 0;
    this.seqs.note(frame.lastSeq);
    const first = !this.seqs.started;
    this.deliver(this.seqs.start(frame.lastSeq));
    if (first && this.oldest === null) this.oldest = frame.lastSeq + 1;
    this.setState("open");
    // Whatever was not acknowledged before the drop goes again, in order; the server stores a clientId once.
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    this.paced = false;
    for (const out of this.outgoing.values()) this.transmit(out);
    this.fillGap();
  }

  private onAck(frame: Frame<"ack">) {
    const out = this.outgoing.get(frame.clientId);
    if (!out) return;
    this.outgoing.delete(frame.clientId);
    if (this.paced) this.next();
    this.stored(frame.seq).then(out.resolve, (cause: unknown) =>
      out.reject(cause instanceof ChatSocketError ? cause : new ChatSocketError("INTERNAL", `message ${frame.seq} was stored but could not be loaded`, undefined, { cause })),
    );
  }

  private onError(frame: Frame<"error">) {
    const out = frame.clientId ? this.outgoing.get(frame.clientId) : undefined;
    if (!out || !frame.clientId) {
      const { type: _type, ...error } = frame;
      return this.emit("error", error);
    }
    if (frame.code === "RATE_LIMITED") {
      // Kept, and sent again once the session takes messages again (see `paced`).
      out.sent = false;
      this.paced = true;
      clearTimeout(this.holdTimer);
      this.holdTimer = setTimeout(() => {
        this.holdTimer = undefined;
        this.next();
      }, frame.retryAfterMs ?? 1_000);
      return;
    }
    this.outgoing.delete(frame.clientId);
    out.reject(new ChatSocketError(frame.code, frame.message, frame.retryAfterMs));
  }

  /** Paced sending: the oldest unsent send goes once none is in flight and no wait is running. */
  private next() {
    if (!this.ready || this.holdTimer !== undefined) return;
    const waiting = [...this.outgoing.values()];
    if (waiting.some((o) => o.sent)) return;
    const first = waiting[0];
    if (!first) {
      this.paced = false;
      return;
    }
    this.transmit(first);
  }

  private transmit(out: Outgoing) {
    out.sent = this.write(out.frame);
  }

  /** The stored message with this seq: delivered already, on its way, or (an old duplicate) from history. */
  private stored(seq: number): Promise<Message> {
    const known = this.recent.get(seq);
    if (known) return Promise.resolve(known);
    if (seq > this.seqs.lastSeq) {
      return new Promise((resolve, reject) => {
        const waiting = this.ackWaiters.get(seq) ?? [];
        waiting.push({ resolve, reject });
        this.ackWaiters.set(seq, waiting);
      });
    }
    return this.deps.history({ sessionId: this.deps.sessionId, after: seq - 1, limit: 1 }).then((page) => {
      const m = page.messages.find((x) => x.seq === seq);
      if (!m) throw new Error(`history has no message ${seq}`);
      return m;
    });
  }

  private receive(messages: Message[]) {
    for (const m of messages) {
      this.seqs.note(m.seq);
      this.deliver(this.seqs.push(m));
    }
    this.fillGap();
  }

  private deliver(messages: Message[]) {
    for (const m of messages) {
      this.recent.set(m.seq, m);
      if (this.recent.size > RECENT) this.recent.delete(this.recent.keys().next().value!);
      if (this.oldest === null || m.seq < this.oldest) this.oldest = m.seq;
      this.emit("message", m);
      const waiting = this.ackWaiters.get(m.seq);
      if (waiting) {
        this.ackWaiters.delete(m.seq);
        for (const w of waiting) w.resolve(m);
      }
    }
  }

  /** Pages a hole in the seqs (a resync, or anything that went missing) from history while live messages wait behind it. */
  private fillGap() {
    if (this.filling || this.state === "closed" || !this.ready || !this.seqs.missing()) return;
    this.filling = true;
    const run = async () => {
      for (let gap = this.seqs.missing(); gap && this.state !== "closed"; gap = this.seqs.missing()) {
        const page = await this.deps.history({ sessionId: this.deps.sessionId, after: gap.after, limit: this.opts.historyPageSize });
        const before = this.seqs.lastSeq;
        for (const m of page.messages) this.deliver(this.seqs.push(m));
        if (this.seqs.lastSeq === before) {
          // History does not have the next seq (it should): skip the hole rather than stall everything behind it.
          this.emit("error", { code: "GAP", message: `messages ${gap.after + 1}–${gap.upTo} could not be loaded from history` });
          this.deliver(this.seqs.skipTo(gap.upTo));
          // Acks waiting for a skipped seq get it from history (or fail) instead of waiting forever.
          for (const [seq, waiting] of this.ackWaiters) {
            if (seq > this.seqs.lastSeq) continue;
            this.ackWaiters.delete(seq);
            for (const w of waiting) this.stored(seq).then(w.resolve, (cause: unknown) => w.reject(new ChatSocketError("INTERNAL", `message ${seq} could not be loaded`, undefined, { cause })));
          }
        }
      }
    };
    run().then(
      () => {
        this.filling = false;
        this.fillFailures = 0;
        this.fillGap();
      },
      () => {
        // Offline or a server error: try again with a growing pause (the socket's own reconnect will also retry).
        this.filling = false;
        if (this.state === "closed") return;
        clearTimeout(this.fillRetry);
        this.fillRetry = setTimeout(() => this.fillGap(), Math.min(10_000, 250 * 2 ** this.fillFailures++));
      },
    );
  }

  private write(frame: ClientFrame) {
    return this.rws.send(JSON.stringify(frame));
  }

  private emit<E extends keyof SocketEvents>(event: E, ...args: Parameters<SocketEvents[E]>) {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        (listener as unknown as (...a: Parameters<SocketEvents[E]>) => void)(...args);
      } catch (err) {
        console.error(`session socket: a "${event}" listener threw`, err);
      }
    }
  }
}
