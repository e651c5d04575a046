// The per-session Durable Object: single writer of the session's messages (seq, dedupe, rate), holder
// of its live WebSockets (hibernation API), and the outbox that feeds Postgres. Each concern lives in
// its own module; this class is the list of hooks that delegates to them.
import { DurableObject } from "cloudflare:workers";
import { getConfig, jsonLimits, type Config } from "../config";
import { isDatabaseUnavailable } from "../db";
import { outboxWriter } from "../outbox-writer";
import { PING_FRAME, PONG_FRAME, type ErrorCode } from "../protocol";
import type { Message, Session } from "../schemas";
import { checkJson } from "../validation";
import { agentRegistry } from "../agents/registry";
import { redact } from "../agents/redact";
import { admit, afterMessage, mayWrite, newMessage } from "./admission";
import { AGENT_TIMER, AgentTurns, type CallbackInput, type CallbackResult, type TurnResult } from "./agent-turns";
import { loadFromPostgres, messageFromPostgres } from "./adopt";
import { SessionUnavailable, type Caller, type Pending, type SendInput, type SendResult, type SessionChange, type TurnStreamResult } from "./contract";
import { clientIdOf, parseClientFrame } from "./frames";
import { FLUSH_TIMER, Outbox } from "./outbox";
import { Sockets } from "./sockets";
import { SessionStore, type Meta } from "./store";
import { Timers } from "./timers";
import { TurnStreams } from "./turn-streams";
import { finalStates, TurnStore, turnView } from "./turns";
import { readUpgrade } from "./upgrade";

export type { Pending, SendResult, SessionChange } from "./contract";

const IDLE_TIMER = "idle";

export class ChatSession extends DurableObject<Env> {
  private readonly config: Config;
  private readonly store: SessionStore;
  private readonly timers: Timers;
  private readonly sockets: Sockets;
  private readonly outbox: Outbox;
  private readonly turns: TurnStore;
  private readonly agents: AgentTurns;
  private readonly streams: TurnStreams;
  private meta: Meta | null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = getConfig(env);
    this.store = new SessionStore(ctx.storage.sql);
    this.timers = new Timers(ctx.storage.sql, ctx.storage);
    this.streams = new TurnStreams(this.config.AGENT_UNAVAILABLE_TEXT);
    this.sockets = new Sockets(ctx, (frame) => this.streams.onFrame(frame));
    this.meta = this.store.loadMeta();
    this.turns = new TurnStore(ctx.storage.sql);
    this.outbox = new Outbox(this.turns, (id) => outboxWriter(env, id, this.config.OUTBOX_WRITERS), this.config, this.store, this.timers, () => this.meta);
    this.agents = new AgentTurns(env, this.config, this.store, this.turns, this.timers, this.sockets, {
      meta: () => this.meta,
      storeMessage: (message) => this.meta && this.commit(this.meta, message, this.meta.tat, Date.parse(message.createdAt)),
      sessionChanged: () => this.sessionChanged(),
      flushSoon: () => this.outbox.request(Date.now()),
      callbackUrl: (agentType) => `${this.config.PUBLIC_URL?.replace(/\/$/, "") ?? this.meta?.origin ?? "http://127.0.0.1:8787"}/api/webhooks/agents/${agentType}`,
    });
    // Answered by the runtime without waking a hibernated object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
    void ctx.blockConcurrencyWhile(async () => {
      await this.timers.load();
      // After a restart (deploy, crash), anything left in the outbox is flushed soon.
      if (this.outbox.behind()) this.timers.ensure(FLUSH_TIMER, Date.now());
      // A turn that was mid-call when the last instance went away resumes (same webhook-id).
      this.agents.recover(Date.now());
    });
  }

  // ---- session state -------------------------------------------------------------------------

  /** Called by sessions.create: the object knows its session without asking Postgres. */
  async init(session: Session): Promise<void> {
    if (this.meta) return;
    this.meta = { session, tat: 0, flushAttempts: 0, statusDirty: false };
    this.store.saveMeta(this.meta);
    this.scheduleIdleCheck();
  }

  /** The session's state, adopted from Postgres when this object has none (see adopt.ts). */
  private async ensureMeta(sessionId: string): Promise<Meta | null> {
    if (this.meta) return this.meta.session.id === sessionId ? this.meta : null;
    const loaded = await loadFromPostgres(this.config, sessionId);
    if (!loaded) return null;
    // Another request may have adopted the session while we waited for Postgres.
    if (this.meta) return this.meta;
    this.store.importClientIds(loaded.clientIds);
    this.meta = { session: loaded.session, state: loaded.state, tat: 0, flushAttempts: 0, statusDirty: false };
    this.store.saveMeta(this.meta);
    return this.meta;
  }

  /** The Worker changed the session in Postgres (rename, resolve, resume, end, expiry): tell everyone. */
  async changed(session: Session, change: SessionChange = "status"): Promise<void> {
    const meta = this.meta;
    // An object without state has no sockets to tell; it adopts the session (and its used
    // clientIds) from Postgres on first use.
    if (!meta) return;
    const mine = meta.session;
    const lastActivityAt = session.lastActivityAt > mine.lastActivityAt ? session.lastActivityAt : mine.lastActivityAt;
    if (change === "renamed") {
      // Postgres's status may trail ours (a message woke the session, not flushed yet): keep ours.
      meta.session = { ...mine, title: session.title, metadata: session.metadata, updatedAt: session.updatedAt };
    } else if (
      session.status === "idle" &&
      mine.status === "active" &&
      mine.lastSeq > session.lastSeq &&
      Date.parse(mine.lastActivityAt) + this.config.SESSION_IDLE_MINUTES * 60_000 > Date.now()
    ) {
      // The sweep judged by Postgres's last activity; messages it has not seen yet say otherwise.
      meta.session = { ...mine, updatedAt: session.updatedAt };
      meta.statusDirty = true;
      meta.statusAt = Date.now();
      this.outbox.request(Date.now());
    } else {
      // An explicit transition (resolve, resume, end, expiry, the sweep) wins over ours. Keep our
      // counters: Postgres may not have every message yet.
      meta.session = { ...session, lastSeq: mine.lastSeq, messageCount: mine.messageCount, lastActivityAt };
      meta.statusDirty = false;
      meta.statusAt = null;
    }
    // Who handles the session, its agent type and context are this object's to say.
    const { agentType, handler, handlerUserId, handlerSince, context } = mine;
    meta.session = { ...meta.session, agentType, handler, handlerUserId, handlerSince, context };
    this.store.saveMeta(meta);
    this.sockets.broadcast({ type: "session", session: meta.session });
    if (session.status === "ended" || session.status === "expired") {
      this.agents.stopAll(Date.now());
      this.sockets.closeAll(session.status);
    } else this.scheduleIdleCheck();
  }

  /** What Postgres may not have yet: the object's lastSeq and its unflushed messages. */
  async pending(sessionId: string): Promise<Pending | null> {
    const meta = this.meta;
    if (!meta || meta.session.id !== sessionId) return null;
    const { status, lastSeq, messageCount, lastActivityAt, updatedAt } = meta.session;
    return {
      lastSeq,
      messageCount,
      lastActivityAt,
      // A status this object changed (a message woke the session, or it turned idle) that
      // Postgres may not have yet.
      status: meta.statusDirty ? { status, updatedAt } : null,
      handling: meta.handlingDirty
        ? { agentType: meta.session.agentType, handler: meta.session.handler, handlerUserId: meta.session.handlerUserId, handlerSince: meta.session.handlerSince, context: meta.session.context }
        : null,
      messages: this.store.unflushed(10_000),
    };
  }

  // ---- the write path ------------------------------------------------------------------------

  /** messages.send over HTTP. The answer leaves only once the message is durable in this object. */
  async send(sessionId: string, caller: Caller, input: SendInput, origin?: string): Promise<SendResult> {
    let meta: Meta | null;
    try {
      meta = await this.ensureMeta(sessionId);
    } catch (err) {
      if (err instanceof SessionUnavailable) return { ok: false, code: "SERVICE_UNAVAILABLE", error: err.message };
      throw err;
    }
    if (!meta || (meta.session.userId !== caller.id && caller.role !== "admin")) {
      return { ok: false, code: "NOT_FOUND", error: `session ${sessionId} not found` };
    }
    if (origin) this.noteOrigin(meta, origin);
    return this.accept(meta, caller, input);
  }

  /** Where this session is reached: webhook agents are given a callback URL on it. */
  private noteOrigin(meta: Meta, origin: string) {
    if (meta.origin === origin) return;
    meta.origin = origin;
    this.store.saveMeta(meta);
  }

  private async accept(meta: Meta, caller: Caller, input: SendInput): Promise<SendResult> {
    const may = mayWrite(meta.session, caller, input.content, this.config);
    if (!may.ok) return may;
    if (input.clientId !== null) {
      const seq = this.store.seqForClientId(input.clientId);
      if (seq !== null) {
        const message = this.store.message(seq) ?? (await messageFromPostgres(this.config, meta.session.id, seq));
        if (message) return { ok: true, message, duplicate: true };
        return { ok: false, code: "SERVICE_UNAVAILABLE", error: "the message store is unavailable; retry with the same clientId" };
      }
    }
    const now = Date.now();
    const admission = admit(meta.session, meta.tat, now, this.config);
    if (!admission.ok) return admission;
    const registry = agentRegistry(this.env);
    if (!registry.ok && may.author === "customer" && meta.session.handler === "agent") {
      return { ok: false, code: "AGENTS_MISCONFIGURED", error: `the agent registry is misconfigured: ${registry.error}` };
    }
    // Card numbers and IBANs never reach storage or an agent.
    const masked = redact(input.content, this.config.REDACT);
    const metadata = masked.redactions.length > 0 ? { ...input.metadata, redactions: masked.redactions } : input.metadata;
    const message = newMessage(meta.session, caller, { ...input, content: masked.text, metadata }, now, may.author);
    this.commit(meta, message, admission.tat, now);
    if (may.author === "customer") this.agents.onCustomerMessage(message, now);
    else this.agents.claim(caller.id);
    return { ok: true, message, duplicate: false };
  }

  /** The object changed the session (handoff, agent type, context): saved, told to every socket, written to Postgres. */
  private sessionChanged() {
    const meta = this.meta;
    if (!meta) return;
    this.store.saveMeta(meta);
    this.sockets.broadcast({ type: "session", session: meta.session });
    this.outbox.request(Date.now());
  }

  // ---- agents: callbacks, cancel, replay, handoff --------------------------------------------

  /** A webhook agent's callback, its signature verified by the Worker. */
  async agentCallback(sessionId: string, input: CallbackInput): Promise<CallbackResult> {
    const meta = await this.ensureMeta(sessionId).catch(() => null);
    if (!meta) return { status: 404, code: "NOT_FOUND", message: `session ${sessionId} not found` };
    return this.agents.callback(input, Date.now());
  }

  /** turns.cancel: the session's owner or an admin stops a turn. */
  async cancelTurn(sessionId: string, caller: Caller, turnId: string | null): Promise<TurnResult> {
    const meta = await this.ensureMeta(sessionId);
    if (!meta || (meta.session.userId !== caller.id && caller.role !== "admin")) return { ok: false, code: "NOT_FOUND", error: `session ${sessionId} not found` };
    return this.agents.cancel(turnId, Date.now());
  }

  /**
   * /api/chat: the turn answering the customer's message at `seq` (or, with null, the one running or
   * next) as a UI message stream: from its start, then live until it ends. `stream` is null when there
   * is no such turn (a human holds the session, or nothing is running).
   */
  async turnStream(sessionId: string, caller: Caller, seq: number | null): Promise<TurnStreamResult> {
    try {
      return await this.openTurnStream(sessionId, caller, seq);
    } catch (err) {
      // The object could not load the session, or a pruned reply, from Postgres: worth a retry.
      if (err instanceof SessionUnavailable || isDatabaseUnavailable(err)) return { ok: false, code: "SERVICE_UNAVAILABLE", error: "the message store is unavailable; retry shortly" };
      throw err;
    }
  }

  private async openTurnStream(sessionId: string, caller: Caller, seq: number | null): Promise<TurnStreamResult> {
    const meta = await this.ensureMeta(sessionId);
    if (!meta || (meta.session.userId !== caller.id && caller.role !== "admin")) return { ok: false, code: "NOT_FOUND", error: `session ${sessionId} not found` };
    const turn = seq === null ? (this.turns.live() ?? this.turns.nextQueued()) : this.turns.forMessage(seq);
    if (!turn) return { ok: true, stream: null };
    const start = { sessionId, turnId: turn.id, agentType: turn.agentType, attempt: turn.attempts, text: "", index: -1 };
    if (!finalStates.includes(turn.state)) {
      const live = this.agents.snapshot();
      const now = live?.turnId === turn.id ? { attempt: live.attempt, text: live.text, index: live.index } : {};
      return { ok: true, stream: this.streams.follow({ ...start, ...now }) };
    }
    // Over already (a re-sent message): its reply, then its end.
    const reply = turn.replySeq === null ? null : (this.store.message(turn.replySeq) ?? (await messageFromPostgres(this.config, sessionId, turn.replySeq)));
    if (turn.replySeq !== null && !reply) return { ok: false, code: "SERVICE_UNAVAILABLE", error: "the message store is unavailable; retry shortly" };
    const frames = [...(reply ? [{ type: "message" as const, message: reply }] : []), { type: "turn" as const, turn: turnView(turn) }];
    return { ok: true, stream: this.streams.replay(start, frames) };
  }

  /** agents.retry: an admin replays a dead-lettered turn. */
  async replayTurn(sessionId: string, turnId: string): Promise<TurnResult> {
    const meta = await this.ensureMeta(sessionId);
    if (!meta) return { ok: false, code: "NOT_FOUND", error: `session ${sessionId} not found` };
    if (meta.session.status === "ended" || meta.session.status === "expired") return { ok: false, code: "CONFLICT", error: `session is ${meta.session.status}` };
    return this.agents.replay(turnId, Date.now());
  }

  /** sessions.handoff: an admin hands the session to a human (taking it) or to an agent type. */
  async handoff(sessionId: string, to: string, adminId: string): Promise<{ ok: true; session: Session } | { ok: false; code: "NOT_FOUND" | "CONFLICT"; error: string }> {
    const meta = await this.ensureMeta(sessionId);
    if (!meta) return { ok: false, code: "NOT_FOUND", error: `session ${sessionId} not found` };
    if (meta.session.status === "ended" || meta.session.status === "expired") return { ok: false, code: "CONFLICT", error: `session is ${meta.session.status}` };
    this.agents.handOff(to, to === "human" ? adminId : null, Date.now());
    return { ok: true, session: meta.session };
  }

  /** Stores a message and tells every socket. */
  private commit(meta: Meta, message: Message, tat: number, now: number) {
    // No await between these writes: they commit together, and the output gate holds every
    // outgoing answer and frame until they are durable.
    this.store.append(message, tat);
    const next = afterMessage(meta.session, message);
    meta.tat = tat;
    meta.session = next.session;
    if (next.reactivated) {
      meta.statusDirty = true;
      meta.statusAt = now;
      this.store.saveMeta(meta);
    }
    // Every socket gets every message in seq order, the sender's own included (its ack follows).
    this.sockets.broadcast({ type: "message", message });
    if (next.reactivated) this.sockets.broadcast({ type: "session", session: meta.session });
    this.outbox.request(now);
  }

  // ---- the alarm -----------------------------------------------------------------------------

  private scheduleIdleCheck() {
    const meta = this.meta;
    if (!meta || meta.session.status !== "active") return;
    this.timers.ensure(IDLE_TIMER, Date.parse(meta.session.lastActivityAt) + this.config.SESSION_IDLE_MINUTES * 60_000);
  }

  /** Runs the timers that are due, then re-arms for the rest. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const due = this.timers.takeDue(now);
    const meta = this.meta;
    if (!meta) return;
    if (due.includes(AGENT_TIMER)) this.agents.onTimer(now);
    const idleAt = Date.parse(meta.session.lastActivityAt) + this.config.SESSION_IDLE_MINUTES * 60_000;
    if (meta.session.status === "active" && now >= idleAt) {
      meta.session = { ...meta.session, status: "idle", updatedAt: new Date(now).toISOString() };
      meta.statusDirty = true;
      meta.statusAt = now;
      this.store.saveMeta(meta);
      this.sockets.broadcast({ type: "session", session: meta.session });
    }
    // The outbox backstop (or its backoff) is due; or the outbox is behind with nothing set to flush it.
    const flushDue = due.includes(FLUSH_TIMER) || (this.timers.at(FLUSH_TIMER) === undefined && this.outbox.behind());
    if (!flushDue || (await this.outbox.run())) {
      this.store.persistFlushed();
      this.scheduleIdleCheck();
    }
    this.timers.arm();
  }

  // ---- WebSockets ----------------------------------------------------------------------------

  /** The socket upgrade, forwarded by the Worker after it authenticated the caller. */
  override async fetch(request: Request): Promise<Response> {
    const upgrade = readUpgrade(request);
    if (!upgrade.ok) return Response.json({ code: upgrade.code, message: upgrade.message }, { status: upgrade.status });
    const { sessionId, caller, since } = upgrade;
    let meta: Meta | null;
    try {
      meta = await this.ensureMeta(sessionId);
    } catch (err) {
      if (err instanceof SessionUnavailable) return Response.json({ code: "SERVICE_UNAVAILABLE", message: err.message }, { status: 503 });
      throw err;
    }
    if (!meta || (meta.session.userId !== caller.userId && caller.role !== "admin")) {
      return Response.json({ code: "NOT_FOUND", message: `session ${sessionId} not found` }, { status: 404 });
    }
    if (meta.session.status === "ended" || meta.session.status === "expired") {
      return Response.json({ code: "CONFLICT", message: `session is ${meta.session.status}` }, { status: 409 });
    }
    this.noteOrigin(meta, new URL(request.url).origin);
    const { 0: client, 1: server } = new WebSocketPair();
    this.sockets.accept(server, caller);
    if (since !== null) this.catchUp(server, meta, since);
    this.sockets.send(server, { type: "ready", sessionId: meta.session.id, lastSeq: meta.session.lastSeq });
    // A socket that was away missed the changes made meanwhile (a handoff, a rename): the session as it is now.
    this.sockets.send(server, { type: "session", session: meta.session });
    // Mid-turn: the reply so far and the index it covers; the later deltas follow on this socket.
    const turn = this.agents.snapshot();
    if (turn) this.sockets.send(server, { type: "turn", turn });
    this.sockets.presence(undefined, server);
    const headers = new Headers();
    if (upgrade.protocol) headers.set("sec-websocket-protocol", upgrade.protocol);
    return new Response(null, { status: 101, webSocket: client, headers });
  }

  /** Replays everything after `since`, or says explicitly that the gap is too large to replay. */
  private catchUp(ws: WebSocket, meta: Meta, since: number) {
    const lastSeq = meta.session.lastSeq;
    if (since >= lastSeq) return;
    const oldest = this.store.oldestSeq();
    if (lastSeq - since > this.config.REPLAY_LIMIT || oldest === null || oldest > since + 1) {
      this.sockets.send(ws, { type: "resync", fromSeq: since + 1, lastSeq });
      return;
    }
    for (const message of this.store.after(since, this.config.REPLAY_LIMIT)) this.sockets.send(ws, { type: "message", message });
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    try {
      await this.onFrame(ws, data);
    } catch (err) {
      // Never leave a sender waiting: a failure is an error frame naming its clientId.
      console.error(`session ${this.meta?.session.id}: frame failed`, err);
      this.sockets.error(ws, "INTERNAL", "the frame could not be processed; retry with the same clientId", clientIdOf(data));
    }
  }

  private async onFrame(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const parsed = parseClientFrame(data, this.config.MAX_FRAME_BYTES);
    if (!parsed.ok) return this.sockets.error(ws, parsed.code, parsed.message, parsed.clientId);
    const frame = parsed.frame;
    const caller = Sockets.caller(ws);
    const meta = this.meta;
    if (!meta) return this.sockets.error(ws, "INTERNAL", "session state is missing; reconnect");
    switch (frame.type) {
      case "ping":
        return this.sockets.send(ws, { type: "pong" });
      case "typing":
        return this.sockets.broadcast({ type: "typing", userId: caller.userId, isTyping: frame.isTyping }, ws);
      case "read":
        return this.sockets.broadcast({ type: "read", userId: caller.userId, seq: Math.min(frame.seq, meta.session.lastSeq) }, ws);
      case "cancel": {
        const result = this.agents.cancel(frame.turnId ?? null, Date.now());
        // Everyone gets the turn frame; only a refusal is answered to the sender alone.
        if (!result.ok) return this.sockets.error(ws, result.code === "BAD_REQUEST" ? "BAD_FRAME" : result.code, result.error);
        return;
      }
      case "send": {
        // Whatever is acknowledged must be writable to Postgres later: refuse it now, not in the
        // outbox. (messages.send checks the same in the Worker, before its RPC.)
        const json = checkJson(frame.metadata ?? {}, jsonLimits(this.config, "message"), "metadata");
        if (!json.ok) return this.sockets.error(ws, json.code === "BAD_REQUEST" ? "BAD_FRAME" : json.code, json.message, frame.clientId);
        const result = await this.accept(
          meta,
          { id: caller.userId, role: caller.role },
          { clientId: frame.clientId, content: frame.content, messageType: frame.messageType ?? "text", metadata: frame.metadata ?? {} },
        );
        if (result.ok) {
          const { id, seq, createdAt } = result.message;
          return this.sockets.send(ws, { type: "ack", clientId: frame.clientId, seq, id, createdAt, duplicate: result.duplicate });
        }
        const code: ErrorCode =
          result.code === "TOO_MANY_REQUESTS" ? "RATE_LIMITED"
          : result.code === "PAYLOAD_TOO_LARGE" ? "PAYLOAD_TOO_LARGE"
          : result.code === "CONFLICT" ? "SESSION_CLOSED"
          : result.code === "FORBIDDEN" ? "FORBIDDEN"
          : result.code === "NOT_FOUND" ? "NOT_FOUND"
          : "INTERNAL";
        return this.sockets.error(ws, code, result.error, frame.clientId, result.retryAfterMs);
      }
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    Sockets.finishClose(ws, code);
    this.sockets.presence(ws);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.sockets.presence(ws);
  }
}
