// The per-session Durable Object: single writer of the session's messages (seq, dedupe, rate), holder
// of its live WebSockets (hibernation API), and the outbox that feeds Postgres.
import { DurableObject } from "cloudflare:workers";
import { getSession } from "../../db/queries/sessions";
import { messageBySeq, sessionClientIds } from "../../db/queries/messages";
import { outboxWriter } from "../outbox-writer";
import { getConfig, jsonLimits, type Config } from "../config";
import { openDb } from "../db";
import { CloseCodes, PING_FRAME, PONG_FRAME, clientFrameSchema, type ErrorCode, type ServerFrame } from "../protocol";
import { gcra } from "../rate-limit";
import { toMessage, toSession, type Message, type Session } from "../schemas";
import { checkJson } from "../validation";
import { SessionStore, type Meta } from "./store";
import * as z from "zod";

/** What Postgres may not have yet: see pending(). */
export interface Pending {
  lastSeq: number;
  messageCount: number;
  lastActivityAt: string;
  status: { status: Session["status"]; updatedAt: string } | null;
  messages: Message[];
}

/** What the Worker changed in Postgres: a rename leaves the status alone, anything else sets it. */
export type SessionChange = "renamed" | "status";

export interface Caller {
  id: string;
  role: "user" | "admin";
}

export interface SendInput {
  clientId: string | null;
  content: string;
  messageType: string;
  metadata: Record<string, unknown>;
}

export type SendResult =
  | { ok: true; message: Message; duplicate: boolean }
  | { ok: false; code: "NOT_FOUND" | "FORBIDDEN" | "CONFLICT" | "TOO_MANY_REQUESTS" | "PAYLOAD_TOO_LARGE" | "SERVICE_UNAVAILABLE"; error: string; retryAfterMs?: number };

interface Attachment {
  userId: string;
  role: "user" | "admin";
}

type Frame = ServerFrame<Message, Session>;

/** Outbox rows handed to the writer per round. */
const FLUSH_BATCH = 500;
/** A flush that has not been answered by then counts as failed (re-sent rows are skipped by Postgres). */
const WRITE_TIMEOUT_MS = 30_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** How far out the durable backstop alarm for an unflushed outbox is set. */
const BACKSTOP_MS = 5_000;

class SessionUnavailable extends Error {
  override name = "SessionUnavailable";
}

export class ChatSession extends DurableObject<Env> {
  private readonly store: SessionStore;
  private readonly config: Config;
  private meta: Meta | null;
  /** The in-memory flush timer; the alarm is the durable backstop should this instance go away. */
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private flushing: Promise<boolean> | null = null;
  /** When the last flush started (in memory: after a restart the first flush may come early). */
  private lastFlushAt = 0;
  /** The alarm as last set (null: none); read from storage when the instance starts. */
  private alarmAt: number | null = null;
  /** The online users last announced (in memory; after a wake-up the next change is announced). */
  private lastOnline: string | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = getConfig(env);
    this.store = new SessionStore(ctx.storage.sql);
    this.meta = this.store.loadMeta();
    // Answered by the runtime without waking a hibernated object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
      // After a restart (deploy, crash), anything left in the outbox is flushed soon.
      if (this.meta && this.meta.session.lastSeq > this.store.flushedThrough()) await this.ensureAlarm(Date.now());
    });
  }

  // ---- session state -------------------------------------------------------------------------

  /** Called by sessions.create: the object knows its session without asking Postgres. */
  async init(session: Session): Promise<void> {
    if (this.meta) return;
    this.meta = { session, tat: 0, flushAttempts: 0, statusDirty: false };
    this.store.saveMeta(this.meta);
    await this.scheduleIdleCheck();
  }

  /**
   * Loads the session from Postgres when this object has no state of its own (created before it
   * existed, or its storage was lost), including the clientIds already used.
   */
  private async ensureMeta(sessionId: string): Promise<Meta | null> {
    if (this.meta) return this.meta.session.id === sessionId ? this.meta : null;
    const handle = openDb(this.config);
    try {
      const row = await getSession(handle.db, sessionId);
      if (!row) return null;
      const clientIds = await sessionClientIds(handle.db, sessionId);
      // Another request may have adopted the session while we waited for Postgres.
      if (this.meta) return this.meta;
      this.store.importClientIds(clientIds);
      this.meta = { session: toSession(row), tat: 0, flushAttempts: 0, statusDirty: false };
      this.store.saveMeta(this.meta);
      return this.meta;
    } catch (err) {
      console.error(`session ${sessionId}: could not load from Postgres`, err);
      throw new SessionUnavailable("the session store is unavailable; retry shortly", { cause: err });
    } finally {
      void handle.close();
    }
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
      this.requestFlush(Date.now());
    } else {
      // An explicit transition (resolve, resume, end, expiry, the sweep) wins over ours. Keep our
      // counters: Postgres may not have every message yet.
      meta.session = { ...session, lastSeq: mine.lastSeq, messageCount: mine.messageCount, lastActivityAt };
      meta.statusDirty = false;
      meta.statusAt = null;
    }
    this.store.saveMeta(meta);
    this.broadcast({ type: "session", session: meta.session });
    if (session.status === "ended" || session.status === "expired") {
      const code = session.status === "ended" ? CloseCodes.sessionEnded : CloseCodes.sessionExpired;
      for (const ws of this.ctx.getWebSockets()) {
        try {
          ws.close(code, `session ${session.status}`);
        } catch {}
      }
    } else {
      await this.scheduleIdleCheck();
    }
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
      messages: this.store.unflushed(10_000),
    };
  }

  // ---- the write path ------------------------------------------------------------------------

  /** messages.send over HTTP. The answer leaves only once the message is durable in this object. */
  async send(sessionId: string, caller: Caller, input: SendInput): Promise<SendResult> {
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
    return this.accept(meta, caller, input);
  }

  private async accept(meta: Meta, caller: Caller, input: SendInput): Promise<SendResult> {
    const session = meta.session;
    if (session.userId !== caller.id) {
      return { ok: false, code: "FORBIDDEN", error: "admins may read and resolve other users' sessions, not write to them" };
    }
    const bytes = new TextEncoder().encode(input.content).byteLength;
    if (bytes > this.config.MAX_CONTENT_BYTES) {
      return { ok: false, code: "PAYLOAD_TOO_LARGE", error: `content is ${bytes} bytes; the limit is ${this.config.MAX_CONTENT_BYTES}` };
    }
    if (input.clientId !== null) {
      const seq = this.store.seqForClientId(input.clientId);
      if (seq !== null) {
        const message = this.store.message(seq) ?? (await this.fromPostgres(seq));
        if (message) return { ok: true, message, duplicate: true };
        return { ok: false, code: "SERVICE_UNAVAILABLE", error: "the message store is unavailable; retry with the same clientId" };
      }
    }
    const now = Date.now();
    if (session.status === "ended" || session.status === "expired" || Date.parse(session.expiresAt) <= now) {
      const status = session.status === "ended" ? "ended" : "expired";
      return { ok: false, code: "CONFLICT", error: `session is ${status}; it no longer accepts messages` };
    }
    const verdict = gcra(meta.tat, now, {
      limit: this.config.MESSAGE_RATE_PER_MINUTE,
      periodMs: 60_000,
      burst: this.config.MESSAGE_BURST,
    });
    if (!verdict.ok) {
      return { ok: false, code: "TOO_MANY_REQUESTS", error: "message rate limit reached", retryAfterMs: verdict.retryAfterMs };
    }

    const createdAt = new Date(now).toISOString();
    const message: Message = {
      id: crypto.randomUUID(),
      sessionId: session.id,
      seq: session.lastSeq + 1,
      clientId: input.clientId,
      userId: caller.id,
      direction: "incoming",
      content: input.content,
      messageType: input.messageType,
      metadata: input.metadata,
      intent: null,
      entities: null,
      sentiment: null,
      confidence: null,
      agentInfo: null,
      processingMs: null,
      errorInfo: null,
      parentId: null,
      createdAt,
    };
    // No await between these writes: they commit together, and the output gate holds every
    // outgoing answer and frame until they are durable.
    this.store.append(message, verdict.tat);
    const reactivated = session.status === "idle" || session.status === "resolved";
    meta.tat = verdict.tat;
    meta.session = {
      ...session,
      lastSeq: message.seq,
      messageCount: session.messageCount + 1,
      lastActivityAt: createdAt,
      updatedAt: createdAt,
      ...(reactivated ? { status: "active" as const } : {}),
    };
    if (reactivated) {
      meta.statusDirty = true;
      meta.statusAt = now;
      this.store.saveMeta(meta);
    }

    // Every socket gets every message in seq order, the sender's own included (its ack follows).
    this.broadcast({ type: "message", message });
    if (reactivated) this.broadcast({ type: "session", session: meta.session });
    this.requestFlush(now);
    return { ok: true, message, duplicate: false };
  }

  private async fromPostgres(seq: number): Promise<Message | null> {
    const handle = openDb(this.config);
    try {
      const row = await messageBySeq(handle.db, this.meta!.session.id, seq);
      return row ? toMessage(row) : null;
    } catch {
      return null;
    } finally {
      void handle.close();
    }
  }

  // ---- the outbox and the alarm --------------------------------------------------------------

  /**
   * Arranges for the outbox to be written: an in-memory timer (a short delay lets a burst share one
   * flush; under steady load flushes are spaced OUTBOX_FLUSH_INTERVAL_MS apart and carry more rows),
   * and, in case this instance goes away first, a durable alarm a few seconds out. While Postgres is
   * failing, the alarm's backoff owns the retries.
   */
  private requestFlush(now: number) {
    const meta = this.meta;
    if (!meta || meta.flushAttempts > 0) return;
    if (!this.flushTimer) {
      const { OUTBOX_FLUSH_DELAY_MS: delay, OUTBOX_FLUSH_INTERVAL_MS: interval } = this.config;
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        void this.runFlush();
      }, Math.max(delay, this.lastFlushAt + interval - now));
    }
    // Not awaited: the output gate holds the ack until this write is durable too.
    void this.ensureAlarm(now + BACKSTOP_MS);
  }

  /** Makes sure the alarm fires no later than `at`. */
  private async ensureAlarm(at: number) {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  private async setAlarm(at: number) {
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  private async scheduleIdleCheck() {
    const meta = this.meta;
    if (!meta || meta.session.status !== "active") return;
    await this.ensureAlarm(Date.parse(meta.session.lastActivityAt) + this.config.SESSION_IDLE_MINUTES * 60_000);
  }

  /** One flush at a time; a failure starts (or continues) the alarm's backoff. */
  private runFlush(): Promise<boolean> {
    if (this.flushing) return this.flushing;
    const meta = this.meta;
    if (!meta) return Promise.resolve(true);
    this.flushing = (async () => {
      let ok = false;
      try {
        ok = await this.flush(meta);
        if (!ok) {
          meta.flushAttempts += 1;
          this.store.saveMeta(meta);
          const backoff = Math.min(this.config.OUTBOX_MAX_BACKOFF_SECONDS * 1000, 250 * 2 ** (meta.flushAttempts - 1));
          await this.setAlarm(Date.now() + backoff * (0.8 + Math.random() * 0.4));
        } else if (meta.flushAttempts > 0) {
          meta.flushAttempts = 0;
          this.store.saveMeta(meta);
        }
        return ok;
      } finally {
        this.flushing = null;
        // Messages that arrived during the flush.
        if (ok && meta.session.lastSeq > this.store.flushedThrough()) this.requestFlush(Date.now());
      }
    })();
    return this.flushing;
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const meta = this.meta;
    if (!meta) return;
    const idleAt = Date.parse(meta.session.lastActivityAt) + this.config.SESSION_IDLE_MINUTES * 60_000;
    if (meta.session.status === "active" && Date.now() >= idleAt) {
      meta.session = { ...meta.session, status: "idle", updatedAt: new Date().toISOString() };
      meta.statusDirty = true;
      meta.statusAt = Date.now();
      this.store.saveMeta(meta);
      this.broadcast({ type: "session", session: meta.session });
    }
    if (!(await this.runFlush())) return;
    this.store.persistFlushed();
    await this.scheduleIdleCheck();
  }

  /** Writes the outbox to Postgres in batches; false when Postgres could not be reached. */
  private async flush(meta: Meta): Promise<boolean> {
    let batch = this.store.outboxBatch(FLUSH_BATCH);
    if (!batch && !meta.statusDirty) return true;
    this.lastFlushAt = Date.now();
    const writer = outboxWriter(this.env, meta.session.id, this.config.OUTBOX_WRITERS);
    try {
      // A backlog (full batches) is written round after round; a trickle that arrived during the
      // write waits for the next flush, so each flush carries many rows.
      for (;;) {
        const status = meta.statusDirty && (meta.session.status === "active" || meta.session.status === "idle") ? meta.session.status : null;
        const dirtyBefore = meta.statusDirty;
        const { inserted, deadLettered } = await withTimeout(
          writer.write({ sessionId: meta.session.id, rows: batch?.json ?? "[]", dead: batch?.dead ?? [], status, statusAt: meta.statusAt ?? Date.now() }),
          WRITE_TIMEOUT_MS,
        );
        if (batch) {
          if (deadLettered > 0) console.error(`session ${meta.session.id}: ${deadLettered} outbox rows could not be written and were set aside`);
          if (inserted + deadLettered < batch.count) {
            // Rows written before a restart (the stored watermark trails) or by a flush whose answer
            // was lost; the unique (session_id, seq) kept them single.
            console.log(`session ${meta.session.id}: ${batch.count - inserted - deadLettered} of ${batch.count} outbox rows were already in Postgres`);
          }
          this.store.markFlushed(batch.last, meta.session.lastSeq - this.config.REPLAY_LIMIT + 1);
        }
        // A status change that arrived while we were writing stays dirty for the next round.
        if (dirtyBefore && status === meta.session.status) {
          meta.statusDirty = false;
          this.store.saveMeta(meta);
        }
        if (!meta.statusDirty && batch?.count !== FLUSH_BATCH) return true;
        batch = this.store.outboxBatch(FLUSH_BATCH);
        if (!batch && !meta.statusDirty) return true;
      }
    } catch (err) {
      console.error(`session ${meta.session.id}: outbox flush failed (attempt ${meta.flushAttempts + 1})`, err);
      return false;
    }
  }

  // ---- WebSockets ----------------------------------------------------------------------------

  /**
   * The socket upgrade, forwarded by the Worker after it authenticated the caller. The caller's
   * identity arrives in headers the Worker sets (it strips any the client sent).
   */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const sessionId = request.headers.get("x-session-id") ?? "";
    const caller: Attachment = {
      userId: request.headers.get("x-user-id") ?? "",
      role: request.headers.get("x-user-role") === "admin" ? "admin" : "user",
    };
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
    const sinceParam = url.searchParams.get("since");
    const since = sinceParam === null ? null : Number(sinceParam);
    if (since !== null && (!Number.isInteger(since) || since < 0)) {
      return Response.json({ code: "BAD_REQUEST", message: "since must be a non-negative integer seq" }, { status: 400 });
    }

    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [caller.userId]);
    server.serializeAttachment(caller satisfies Attachment);
    if (since !== null) this.catchUp(server, meta, since);
    this.sendTo(server, { type: "ready", sessionId: meta.session.id, lastSeq: meta.session.lastSeq });
    this.broadcastPresence(undefined, server);
    const headers = new Headers();
    const protocol = request.headers.get("x-accept-protocol");
    if (protocol) headers.set("sec-websocket-protocol", protocol);
    return new Response(null, { status: 101, webSocket: client, headers });
  }

  /** Replays everything after `since`, or says explicitly that the gap is too large to replay. */
  private catchUp(ws: WebSocket, meta: Meta, since: number) {
    const lastSeq = meta.session.lastSeq;
    if (since >= lastSeq) return;
    const oldest = this.store.oldestSeq();
    if (lastSeq - since > this.config.REPLAY_LIMIT || oldest === null || oldest > since + 1) {
      this.sendTo(ws, { type: "resync", fromSeq: since + 1, lastSeq });
      return;
    }
    for (const message of this.store.after(since, this.config.REPLAY_LIMIT)) this.sendTo(ws, { type: "message", message });
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    try {
      await this.onFrame(ws, data);
    } catch (err) {
      // Never leave a sender waiting: a failure is an error frame naming its clientId.
      console.error(`session ${this.meta?.session.id}: frame failed`, err);
      let clientId: string | undefined;
      try {
        const raw = typeof data === "string" ? (JSON.parse(data) as { clientId?: unknown }) : null;
        if (typeof raw?.clientId === "string") clientId = raw.clientId;
      } catch {}
      this.error(ws, "INTERNAL", "the frame could not be processed; retry with the same clientId", clientId);
    }
  }

  private async onFrame(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    if (typeof data !== "string") return this.error(ws, "BAD_FRAME", "frames must be JSON text");
    const maxBytes = this.config.MAX_FRAME_BYTES;
    if (data.length > maxBytes) return this.error(ws, "PAYLOAD_TOO_LARGE", `frames are limited to ${maxBytes} bytes`);
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch {
      return this.error(ws, "BAD_FRAME", "frame is not valid JSON");
    }
    const parsed = clientFrameSchema.safeParse(raw);
    if (!parsed.success) {
      const clientId = typeof raw === "object" && raw !== null && typeof (raw as { clientId?: unknown }).clientId === "string"
        ? (raw as { clientId: string }).clientId
        : undefined;
      return this.error(ws, "BAD_FRAME", z.prettifyError(parsed.error), clientId);
    }
    const frame = parsed.data;
    const caller = ws.deserializeAttachment() as Attachment;
    const meta = this.meta;
    if (!meta) return this.error(ws, "INTERNAL", "session state is missing; reconnect");
    switch (frame.type) {
      case "ping":
        return this.sendTo(ws, { type: "pong" });
      case "typing":
        return this.broadcast({ type: "typing", userId: caller.userId, isTyping: frame.isTyping }, ws);
      case "read":
        return this.broadcast({ type: "read", userId: caller.userId, seq: Math.min(frame.seq, meta.session.lastSeq) }, ws);
      case "send": {
        // Whatever is acknowledged must be writable to Postgres later: refuse it now, not in the
        // outbox. (messages.send checks the same in the Worker, before its RPC.)
        const json = checkJson(frame.metadata ?? {}, jsonLimits(this.config, "message"), "metadata");
        if (!json.ok) return this.error(ws, json.code === "BAD_REQUEST" ? "BAD_FRAME" : json.code, json.message, frame.clientId);
        const result = await this.accept(
          meta,
          { id: caller.userId, role: caller.role },
          { clientId: frame.clientId, content: frame.content, messageType: frame.messageType ?? "text", metadata: frame.metadata ?? {} },
        );
        if (result.ok) {
          const { id, seq, createdAt } = result.message;
          return this.sendTo(ws, { type: "ack", clientId: frame.clientId, seq, id, createdAt, duplicate: result.duplicate });
        }
        const code: ErrorCode =
          result.code === "TOO_MANY_REQUESTS" ? "RATE_LIMITED"
          : result.code === "PAYLOAD_TOO_LARGE" ? "PAYLOAD_TOO_LARGE"
          : result.code === "CONFLICT" ? "SESSION_CLOSED"
          : result.code === "FORBIDDEN" ? "FORBIDDEN"
          : "INTERNAL";
        return this.error(ws, code, result.error, frame.clientId, result.retryAfterMs);
      }
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    // Complete the close handshake. Echoing 1005/1006 throws in workerd and leaves the client
    // waiting; answer those with a normal close.
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, "bye");
    } catch {}
    this.broadcastPresence(ws);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.broadcastPresence(ws);
  }

  private sendTo(ws: WebSocket, frame: Frame) {
    try {
      ws.send(JSON.stringify(frame));
    } catch {
      // The socket is closing; its close handler tidies up.
    }
  }

  private error(ws: WebSocket, code: ErrorCode, message: string, clientId?: string, retryAfterMs?: number) {
    this.sendTo(ws, { type: "error", code, message, ...(clientId ? { clientId } : {}), ...(retryAfterMs ? { retryAfterMs } : {}) });
  }

  private broadcast(frame: Frame, except?: WebSocket | null) {
    const text = JSON.stringify(frame);
    for (const ws of this.ctx.getWebSockets()) {
      if (ws === except) continue;
      try {
        ws.send(text);
      } catch {}
    }
  }

  /**
   * Tells a joining socket who is online, and everyone else only when that set of users changed
   * (a user's second device joining changes nothing): joins cost O(sockets), not O(sockets²).
   */
  private broadcastPresence(leaving?: WebSocket, joined?: WebSocket) {
    const sockets = this.ctx.getWebSockets().filter((ws) => ws !== leaving && ws.readyState === WebSocket.OPEN);
    const online = [...new Set(sockets.map((ws) => (ws.deserializeAttachment() as Attachment).userId))].sort();
    if (joined) this.sendTo(joined, { type: "presence", online });
    const key = online.join("\n");
    if (key === this.lastOnline) return;
    this.lastOnline = key;
    this.broadcast({ type: "presence", online }, joined ?? leaving);
  }
}
