// Agent turns, run by the session's object: each customer message starts (or joins) a turn; the turn
// calls the session's agent (or pipeline) with fetch, streams deltas to the sockets, stores the reply,
// retries by the "agent" timer, and hands the session to a human when the agent fails for good.
// The turn row is the durable job: a restart mid-call resumes it with the same webhook-id.
import { retryDelayMs } from "../agents/backoff";
import { callAgent, storable, type CallOutcome } from "../agents/call";
import type { ReplyFields } from "../agents/decode";
import { StreamRedactor, redact, type RedactionKind } from "../agents/redact";
import { agentOf, agentRegistry, type AgentConfig, type Registry } from "../agents/registry";
import { requestBody, signatureHeaders, type StepResult } from "../agents/request";
import { jsonLimits, type Config } from "../config";
import type { Message, Session } from "../schemas";
import { checkJson } from "../validation";
import type { Sockets } from "./sockets";
import { messagesFromPostgres } from "./adopt";
import type { Meta, SessionStore } from "./store";
import { TIMER_SLACK_MS, type Timers } from "./timers";
import { finalStates, liveStates, moveTurn, turnView, type Turn, type TurnStore } from "./turns";
import { withTimeout } from "../with-timeout";
import { loggable } from "../errors";

export const AGENT_TIMER = "agent";
/** Longest wait between two attempts, whatever the backoff or Retry-After says. */
const MAX_RETRY_DELAY_MS = 3_600_000;
/** Extra time before the watchdog treats a call with no answer as interrupted (the call's own timeout comes first). */
const WATCHDOG_SLACK_MS = 10_000;

export interface TurnHost {
  meta(): Meta | null;
  /** Stores a message from the agent side (reply, human, notice) and tells every socket. */
  storeMessage(message: Message): void;
  /** Handler, agent type, context or state changed here: save, tell the sockets, write to Postgres. */
  sessionChanged(): void;
  /** Where a webhook agent of this type calls back. */
  callbackUrl(agentType: string): string;
  /** A turn changed: its audit row goes to Postgres with the next flush. */
  flushSoon(): void;
}

export type TurnResult = { ok: true; turn: ReturnType<typeof turnView> } | { ok: false; code: "NOT_FOUND" | "CONFLICT" | "BAD_REQUEST"; error: string };

export type CallbackInput = {
  agentType: string;
  deliveryId: string;
  turnId: string;
  reply: { ok: true; text: string; fields: ReplyFields } | { ok: false; error: string };
};
export type CallbackResult = { status: 200 | 404 | 409; code: string; message: string };

/** Who a step is: the agent type called and its settings, and whether its reply is the turn's reply. */
interface Step {
  type: string;
  agent: AgentConfig;
  final: boolean;
  jobId: string;
}

/** Loading pruned messages from Postgres for a request gives up after this (the attempt then retries). */
const LOAD_TIMEOUT_MS = 10_000;

export class AgentTurns {
  /** The call in flight in this instance (none after a restart: the watchdog resumes the job). */
  private running: { turnId: string; attempts: number; controller: AbortController } | null = null;
  /**
   * The live attempt's stream, in memory only: the reply so far (what a joining socket is given) and
   * when its first delta came. Streaming is not a stored state: a restart retries the attempt anyway,
   * and a storage write here would hold the first delta back until it commits.
   */
  private live: {
    turnId: string;
    attempt: number;
    final: boolean;
    /** The reply so far as passed on: masked piece by piece (the end is held while a number may be forming). */
    text: string;
    index: number;
    firstDeltaMs: number | null;
    redactor: StreamRedactor;
  } | null = null;

  constructor(
    private readonly env: Env,
    private readonly config: Config,
    private readonly store: SessionStore,
    private readonly turns: TurnStore,
    private readonly timers: Timers,
    private readonly sockets: Sockets,
    private readonly host: TurnHost,
  ) {}

  private registry(): Registry | null {
    const result = agentRegistry(this.env);
    return result.ok ? result.registry : null;
  }

  /** A turn that was mid-call when the previous instance went away resumes now (same webhook-id). */
  recover(now: number) {
    const live = this.turns.live();
    if (live && (live.state === "calling" || live.state === "streaming")) this.timers.set(AGENT_TIMER, now);
    else if (live?.dueAt) this.timers.ensure(AGENT_TIMER, live.dueAt);
  }

  /** The live turn for a socket that just joined: its state, and the reply so far with the index it covers. */
  snapshot() {
    const turn = this.turns.live();
    if (!turn) return null;
    const live = this.live?.turnId === turn.id && this.live.attempt === turn.attempts ? this.live : null;
    return { ...turnView(turn), ...(live ? { state: "streaming" as const } : {}), text: live?.final ? live.text : "", index: live?.final ? live.index : -1 };
  }

  private announce(turn: Turn) {
    this.sockets.broadcast({ type: "turn", turn: turnView(turn) });
  }

  /** Saves and announces a turn; `audit` false keeps a turn that has not started out of the audit trail for now. */
  private save(turn: Turn, audit = true) {
    this.turns.save(turn, audit);
    this.announce(turn);
    if (audit) this.host.flushSoon();
  }

  // ---- starting turns ------------------------------------------------------------------------

  /** A customer's message was stored: a new turn, or (merge) one more message for the queued turn. */
  onCustomerMessage(message: Message, now: number) {
    const session = this.host.meta()?.session;
    // While a human holds the session no agent is called: the gate is here, not in the agent.
    if (!session || session.handler === "human") return;
    const registry = this.registry();
    const agent = registry ? agentOf(registry, session.agentType) : undefined;
    const queued = agent?.concurrency === "merge" ? this.turns.queued().at(-1) : undefined;
    if (queued) {
      this.save({ ...queued, messageSeqs: [...queued.messageSeqs, message.seq], parentId: message.id, updatedAt: now }, false);
      return;
    }
    const turn: Turn = {
      id: crypto.randomUUID(), agentType: session.agentType, state: "queued", attempt: 0, attempts: 0, step: 0, previous: [],
      messageSeqs: [message.seq], parentId: message.id, error: null, detail: null, dead: false, createdAt: now, startedAt: null, ttfbMs: null,
      firstDeltaMs: null, totalMs: null, replySeq: null, dueAt: null, updatedAt: now,
    };
    if (this.turns.live() || this.turns.nextQueued()) {
      // Queued: stored (it is the durable job) but not audited until it starts, which keeps the
      // message path free of a Postgres row per message while an agent is busy.
      this.save(turn, false);
      return;
    }
    // Nothing ahead of it: it starts at once (announced as queued, stored once, as calling).
    this.announce(turn);
    this.startAttempt({ ...turn, startedAt: now }, now);
  }

  /** Starts the oldest queued turn when none is live (one turn at a time: replies come in order). */
  private pump(now: number) {
    const session = this.host.meta()?.session;
    if (!session || session.handler === "human" || session.status === "ended" || session.status === "expired" || this.turns.live()) return;
    const next = this.turns.nextQueued();
    // A turn not started yet calls the session's agent as it is now (a handoff may have come since it was queued).
    if (next) this.startAttempt({ ...next, agentType: next.startedAt === null ? session.agentType : next.agentType, startedAt: next.startedAt ?? now }, now);
  }

  private step(turn: Turn, registry: Registry): Step | string {
    const agent = agentOf(registry, turn.agentType);
    if (!agent) return `agent type ${turn.agentType} is not in AGENTS`;
    if (!agent.pipeline) return { type: turn.agentType, agent, final: true, jobId: turn.id };
    const type = agent.pipeline[turn.step]!;
    return { type, agent: agentOf(registry, type)!, final: turn.step === agent.pipeline.length - 1, jobId: `${turn.id}.${turn.step}` };
  }

  /** The next attempt at the turn's current step: persisted first, then the call runs in the background. */
  private startAttempt(turn: Turn, now: number) {
    const registry = this.registry();
    const step = registry ? this.step(turn, registry) : "the agent registry (AGENTS) is invalid";
    if (typeof step === "string") return this.fail(turn, step, now);
    const dueAt = now + step.agent.timeoutMs + WATCHDOG_SLACK_MS;
    const calling = moveTurn(turn, "calling", now, { attempt: turn.attempt + 1, attempts: turn.attempts + 1, error: null, detail: null, dueAt });
    this.save(calling);
    this.live = null;
    this.timers.ensure(AGENT_TIMER, dueAt);
    const controller = new AbortController();
    this.running = { turnId: calling.id, attempts: calling.attempts, controller };
    void this.call(calling, step, controller).catch((err) => {
      console.error(`turn ${calling.id}: the call failed unexpectedly`, loggable(err));
      this.settle(calling.id, calling.attempts, step, { kind: "retry", error: "internal error", status: null, retryAfterMs: null, ttfbMs: null });
    });
  }

  /** The turn's messages and history: from this object, or from Postgres for what it pruned already. */
  private async context(turn: Turn, step: Step): Promise<{ messages: Message[]; history: Message[] }> {
    const held = turn.messageSeqs.map((seq) => this.store.message(seq));
    let messages = held.filter((m): m is Message => m !== null);
    const first = turn.messageSeqs[0]!;
    let history = this.store.recent(first, step.agent.historyLimit);
    const wantHistory = Math.min(step.agent.historyLimit, first - 1);
    if (messages.length === turn.messageSeqs.length && history.length >= wantHistory) return { messages, history };
    const missing = turn.messageSeqs.filter((_, i) => held[i] === null);
    const loaded = await withTimeout(
      messagesFromPostgres(this.config, this.host.meta()!.session.id, missing, { before: first, limit: step.agent.historyLimit }),
      LOAD_TIMEOUT_MS,
    );
    messages = [...messages, ...loaded.messages].sort((a, b) => a.seq - b.seq);
    if (loaded.history.length > history.length) history = loaded.history;
    return { messages, history };
  }

  private async request(turn: Turn, step: Step): Promise<Request | string> {
    const meta = this.host.meta()!;
    const { messages, history } = await this.context(turn, step);
    if (messages.length === 0) return "the turn's messages could not be found";
    const s = meta.session;
    const body = JSON.stringify(
      requestBody(step.agent, {
        turnId: turn.id,
        callbackUrl: this.host.callbackUrl(step.type),
        session: { id: s.id, agentType: s.agentType, context: s.context, state: meta.state ?? {}, metadata: s.metadata },
        messages,
        history,
        previous: turn.previous,
      }),
    );
    const url = step.agent.url!;
    return new Request(url.startsWith("/") ? `https://self.internal${url}` : url, {
      method: "POST",
      body,
      headers: {
        "content-type": "application/json",
        accept: "text/event-stream, application/x-ndjson, application/json, text/plain",
        ...signatureHeaders(step.agent.secret, step.jobId, body),
      },
    });
  }

  private async call(turn: Turn, step: Step, controller: AbortController) {
    let request: Request | string;
    try {
      request = await this.request(turn, step);
    } catch (err) {
      // Pruned messages live in Postgres only; while it is down the attempt waits like any other.
      console.error(`turn ${turn.id}: could not load its messages`, loggable(err));
      return this.settle(turn.id, turn.attempts, step, { kind: "retry", error: "the turn's messages could not be loaded", status: null, retryAfterMs: null, ttfbMs: null });
    }
    if (typeof request === "string") return this.settle(turn.id, turn.attempts, step, { kind: "fail", error: request, status: null, ttfbMs: null });
    if (controller.signal.aborted) return;
    const viaSelf = step.agent.url!.startsWith("/");
    const started = Date.now();
    const outcome = await callAgent({
      request,
      fetch: (r) => (viaSelf ? this.env.SELF.fetch(r) : fetch(r)),
      timeoutMs: step.agent.timeoutMs,
      signal: controller.signal,
      onStream: () => this.onStream(turn.id, turn.attempts, step),
      onDelta: (text) => this.onDelta(turn.id, turn.attempts, text),
    });
    console.log(
      JSON.stringify({
        event: "agent.attempt", sessionId: this.host.meta()?.session.id, turnId: turn.id, agentType: step.type,
        ...(step.type !== turn.agentType ? { pipeline: turn.agentType, step: turn.step } : {}), attempt: turn.attempt,
        outcome: outcome.kind, status: "status" in outcome ? outcome.status : null, ttfbMs: "ttfbMs" in outcome ? outcome.ttfbMs : null,
        ms: Date.now() - started, ...("error" in outcome ? { error: outcome.error, ...(outcome.detail ? { detail: outcome.detail } : {}) } : {}),
      }),
    );
    this.settle(turn.id, turn.attempts, step, outcome);
  }

  /** The current version of a turn if `attempts` is still its attempt in flight (a cancel or a newer attempt makes it stale). */
  private current(turnId: string, attempts: number): Turn | null {
    const turn = this.turns.get(turnId);
    return turn && liveStates.includes(turn.state) && turn.attempts === attempts ? turn : null;
  }

  private onStream(turnId: string, attempts: number, step: Step) {
    const turn = this.current(turnId, attempts);
    if (!turn || turn.state !== "calling") return;
    this.live = { turnId, attempt: attempts, final: step.final, text: "", index: -1, firstDeltaMs: null, redactor: new StreamRedactor(this.config.REDACT) };
    this.sockets.broadcast({ type: "turn", turn: { ...turnView(turn), state: "streaming" } });
  }

  private onDelta(turnId: string, attempts: number, text: string) {
    const live = this.live;
    if (live?.turnId !== turnId || live.attempt !== attempts) return;
    if (live.firstDeltaMs === null) {
      const started = this.turns.get(turnId)?.startedAt;
      if (started) live.firstDeltaMs = Date.now() - started;
    }
    if (!live.final) return;
    // NUL goes now; lone surrogates only after masking (the redactor keeps a pair split across pieces whole).
    this.emit(live, live.redactor.push(text.replaceAll("\u0000", "\uFFFD")));
  }

  /** Passes a masked piece of the reply on to the sockets. */
  private emit(live: NonNullable<AgentTurns["live"]>, masked: string) {
    if (masked === "") return;
    const piece = storable(masked);
    live.index += 1;
    live.text += piece;
    this.sockets.broadcast({ type: "delta", turnId: live.turnId, attempt: live.attempt, index: live.index, text: piece });
  }

  /** Acts on how an attempt ended (`fromStream` false: a callback's reply, not what was streamed). */
  private settle(turnId: string, attempts: number, step: Step, outcome: CallOutcome, fromStream = true) {
    if (this.running?.turnId === turnId && this.running.attempts === attempts) this.running = null;
    const turn = this.current(turnId, attempts);
    if (!turn || outcome.kind === "aborted") return;
    const now = Date.now();
    const firstDeltaMs = this.live?.turnId === turnId && this.live.final ? this.live.firstDeltaMs : null;
    const timing = {
      ...("ttfbMs" in outcome && outcome.ttfbMs !== null ? { ttfbMs: outcome.ttfbMs } : {}),
      ...(firstDeltaMs !== null && turn.firstDeltaMs === null ? { firstDeltaMs } : {}),
    };
    switch (outcome.kind) {
      case "reply": {
        // A streamed final reply is what went to the sockets (masked piece by piece), plus what was held.
        const live = fromStream && this.live?.turnId === turnId && this.live.attempt === attempts && this.live.final ? this.live : null;
        if (live) this.emit(live, live.redactor.end());
        return this.replied({ ...turn, ...timing }, step, live ? live.text : storable(outcome.text), outcome.fields, now, live?.redactor.redactions());
      }
      case "accepted": {
        const dueAt = now + step.agent.callbackTimeoutMs;
        this.save(moveTurn(turn, "waiting_callback", now, { ...timing, dueAt }));
        this.timers.ensure(AGENT_TIMER, dueAt);
        return;
      }
      case "retry":
        return this.retryLater({ ...turn, ...timing, detail: outcome.detail ?? null }, step, outcome.error, outcome.retryAfterMs, now);
      case "fail":
        return this.fail({ ...turn, ...timing, detail: outcome.detail ?? null }, `${step.type}: ${outcome.error}`, now);
    }
  }

  private retryLater(turn: Turn, step: Step, error: string, retryAfterMs: number | null, now: number) {
    if (turn.attempt >= step.agent.maxAttempts) return this.fail(turn, `${step.type}: ${error} (after ${turn.attempt} attempts)`, now);
    const delay = Math.min(MAX_RETRY_DELAY_MS, Math.max(retryDelayMs(turn.attempt, step.agent.retryBaseMs, MAX_RETRY_DELAY_MS), retryAfterMs ?? 0));
    const dueAt = now + delay;
    this.save(moveTurn(turn, "retry_wait", now, { error: `${step.type}: ${error}`, dueAt }));
    this.live = null;
    this.timers.ensure(AGENT_TIMER, dueAt);
  }

  /** A step answered: the next pipeline step, or the turn's reply is stored. */
  private replied(turn: Turn, step: Step, text: string, fields: ReplyFields, now: number, streamedRedactions?: { kind: RedactionKind; count: number }[]) {
    // JSON an agent sends is checked like a client's: it is stored, and Postgres must take it later.
    for (const [field, value, kind] of [["entities", fields.entities, "message"], ["context", fields.context, "session"], ["state", fields.state, "session"]] as const) {
      if (value === undefined || value === null) continue;
      const verdict = checkJson({ [field]: value }, jsonLimits(this.config, kind), field);
      if (!verdict.ok) return this.fail(turn, `${step.type}: the reply's ${field} cannot be stored`, now, verdict.message);
    }
    const result: StepResult = { agentType: step.type, output: text, ...fields };
    if (!step.final) {
      const next = moveTurn(turn, "calling", now, { step: turn.step + 1, attempt: 0, previous: [...turn.previous, result] });
      this.turns.save(next);
      return this.startAttempt(next, now);
    }
    if (step.final && text.trim() === "") return this.fail(turn, `${step.type}: the reply is empty`, now);
    const meta = this.host.meta();
    if (!meta) return;
    const session = meta.session;
    if (session.status === "ended" || session.status === "expired") {
      return this.finish(moveTurn(turn, "cancelled", now, { error: `the session ${session.status} before the reply` }), now);
    }
    // What every step added, the later ones winning (context and state merged key by key).
    const steps = [...turn.previous, result];
    const merged: Omit<StepResult, "agentType" | "output"> = {};
    for (const { agentType: _a, output: _o, context, state, ...f } of steps) {
      Object.assign(merged, Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)));
      if (context) merged.context = { ...merged.context, ...context };
      if (state) merged.state = { ...merged.state, ...state };
    }
    const masked = streamedRedactions ? { text, redactions: streamedRedactions } : redact(text, this.config.REDACT);
    const message: Message = {
      // A turn has one reply: its id is the turn's, which a UI message stream announces before it is stored.
      id: turn.id,
      sessionId: session.id,
      seq: session.lastSeq + 1,
      clientId: null,
      userId: `agent:${turn.agentType}`,
      direction: "outgoing",
      content: masked.text,
      messageType: "text",
      metadata: masked.redactions.length > 0 ? { redactions: masked.redactions } : {},
      intent: merged.intent ?? null,
      entities: merged.entities ?? null,
      sentiment: merged.sentiment ?? null,
      confidence: merged.confidence ?? null,
      agentInfo: {
        kind: "agent",
        agentType: turn.agentType,
        attempt: turn.attempt,
        turnId: turn.id,
        ...(merged.model ? { model: merged.model } : {}),
        ...(turn.previous.length > 0 ? { steps: steps.map((r) => r.agentType) } : {}),
      },
      processingMs: now - (turn.startedAt ?? now),
      errorInfo: null,
      parentId: turn.parentId,
      createdAt: new Date(now).toISOString(),
    };
    this.host.storeMessage(message);
    if (merged.context || merged.state) {
      if (merged.context) meta.session = { ...meta.session, context: { ...meta.session.context, ...merged.context } };
      if (merged.state) meta.state = { ...meta.state, ...merged.state };
      meta.handlingDirty = true;
      this.host.sessionChanged();
    }
    const handoff = merged.handoff;
    // With a handoff, the next queued turn starts once the session has its new handler (handOff pumps).
    this.finish(moveTurn(turn, "done", now, { replySeq: message.seq }), now, !handoff);
    if (handoff) this.applyHandoff(handoff, turn, now);
  }

  private applyHandoff(handoff: NonNullable<ReplyFields["handoff"]>, turn: Turn, now: number) {
    if (handoff.to === "human") return this.handOff("human", null, now);
    const registry = this.registry();
    if (registry && agentOf(registry, handoff.to)) return this.handOff(handoff.to, null, now);
    console.error(`turn ${turn.id}: ${turn.agentType} handed off to ${handoff.to}, which is not an agent type; ignored`);
    this.pump(now);
  }

  /** A finished turn: saved, its timer and live text gone, and (unless `next` is false) the next queued turn starts. */
  private finish(turn: Turn, now: number, next = true) {
    this.save(turn);
    if (this.running?.turnId === turn.id) {
      this.running.controller.abort();
      this.running = null;
    }
    if (this.live?.turnId === turn.id) this.live = null;
    // The agent timer is left as it is: firing with nothing due costs one wake-up, clearing it a write per turn.
    if (next) this.pump(now);
  }

  /** The agent failed for good: the customer is told, the session goes to a human, the turn is a dead letter. */
  private fail(turn: Turn, error: string, now: number, detail: string | null = turn.detail) {
    const failed = moveTurn(turn.state === "queued" ? { ...turn, state: "calling" } : turn, "failed", now, { error, detail, dead: true });
    // No next turn: the session goes to a human below, which drops those queued (none may start in between).
    this.finish(failed, now, false);
    const session = this.host.meta()?.session;
    if (!session || session.status === "ended" || session.status === "expired") return;
    this.host.storeMessage({
      id: crypto.randomUUID(),
      sessionId: session.id,
      seq: session.lastSeq + 1,
      clientId: null,
      userId: "system",
      direction: "system",
      content: this.config.AGENT_UNAVAILABLE_TEXT,
      messageType: "text",
      metadata: {},
      intent: null,
      entities: null,
      sentiment: null,
      confidence: null,
      agentInfo: null,
      processingMs: null,
      errorInfo: { agent: turn.agentType, turnId: turn.id, attempts: failed.attempts, error },
      parentId: turn.parentId,
      createdAt: new Date(now).toISOString(),
    });
    this.handOff("human", null, now);
  }

  // ---- the timer, callbacks, cancel, replay, handoff -----------------------------------------

  /** The "agent" timer fired: a retry is due, a call went silent, or a callback never came. */
  onTimer(now: number) {
    const turn = this.turns.live();
    if (!turn) return;
    const inFlight = (turn.state === "calling" || turn.state === "streaming") && this.running?.turnId === turn.id;
    // A call with no instance running it was cut off by a restart: it resumes now, whatever its time.
    const interrupted = (turn.state === "calling" || turn.state === "streaming") && !inFlight;
    if (!interrupted && turn.dueAt !== null && now + TIMER_SLACK_MS < turn.dueAt) {
      // The timer fired for an earlier turn (it is only ever moved earlier): wait for this one's time.
      this.timers.ensure(AGENT_TIMER, turn.dueAt);
      return;
    }
    const registry = this.registry();
    const step = registry ? this.step(turn, registry) : "the agent registry (AGENTS) is invalid";
    if (typeof step === "string") return this.fail(turn, step, now);
    if (turn.state === "retry_wait") return this.startAttempt(turn, now);
    if (turn.state === "waiting_callback") return this.retryLater(turn, step, `no callback within ${step.agent.callbackTimeoutMs} ms`, null, now);
    if (inFlight) {
      // Still in flight here: its own time limits end it.
      this.timers.ensure(AGENT_TIMER, now + step.agent.timeoutMs);
      return;
    }
    this.retryLater(turn, step, "interrupted: the session restarted during the call", null, now);
  }

  /**
   * A webhook agent's answer (its signature already verified by the Worker). It is taken while the
   * turn waits for it, and also while the step's call is still in flight (the callback beat the 202)
   * or waits for its next attempt (it came after the deadline): the work was done, so it is used.
   * Its delivery id is recorded only when it is taken, so a refused delivery can be sent again.
   */
  callback(input: CallbackInput, now: number): CallbackResult {
    // A delivery taken before is answered the same way whatever happened since (its 200 may have been lost).
    if (this.turns.deliveryTaken(input.deliveryId)) return { status: 200, code: "DUPLICATE", message: "this delivery was received before; ignored" };
    const turn = this.turns.get(input.turnId);
    if (!turn) return { status: 404, code: "NOT_FOUND", message: `turn ${input.turnId} not found in this session` };
    // A reply is used whenever the turn still runs; a reported failure only while the turn waits for
    // this callback (a stale one must not end an attempt in flight).
    const takes = input.reply.ok ? liveStates.includes(turn.state) : turn.state === "waiting_callback";
    if (!takes) return { status: 409, code: "CONFLICT", message: `turn ${turn.id} is ${turn.state}; the callback changes nothing` };
    const registry = this.registry();
    const step = registry ? this.step(turn, registry) : null;
    if (!step || typeof step === "string" || step.type !== input.agentType) {
      return { status: 409, code: "CONFLICT", message: `turn ${turn.id} is waiting for another agent` };
    }
    // The work is done: the call in flight (or the attempt waiting its turn) is dropped.
    if (this.running?.turnId === turn.id) this.running.controller.abort();
    if (this.live?.turnId === turn.id) this.live = null;
    let current = turn;
    if (turn.state === "retry_wait") {
      current = moveTurn(turn, "calling", now);
      this.turns.save(current);
    }
    this.settle(current.id, current.attempts, step, input.reply.ok
      ? { kind: "reply", text: input.reply.text, fields: input.reply.fields, status: 200, ttfbMs: current.ttfbMs ?? 0, firstDeltaMs: null }
      : { kind: "retry", error: "the agent reported an error", detail: storable(input.reply.error.slice(0, 200)), status: null, retryAfterMs: null, ttfbMs: null }, false);
    this.turns.recordDelivery(input.deliveryId, now);
    return { status: 200, code: "OK", message: "accepted" };
  }

  /** Stops a turn on the server (the live one when no id is given); its fetch is aborted. */
  cancel(turnId: string | null, now: number): TurnResult {
    const turn = turnId ? this.turns.get(turnId) : (this.turns.live() ?? this.turns.queued().at(-1) ?? null);
    if (!turn) return { ok: false, code: "NOT_FOUND", error: turnId ? `turn ${turnId} not found` : "no turn is running" };
    if (finalStates.includes(turn.state)) return { ok: false, code: "CONFLICT", error: `turn ${turn.id} is already ${turn.state}` };
    const cancelled = moveTurn(turn, "cancelled", now, { error: "cancelled" });
    this.finish(cancelled, now);
    return { ok: true, turn: turnView(cancelled) };
  }

  /** Replays a dead letter: the session goes back to its agent and the turn runs again from its first step. */
  replay(turnId: string, now: number): TurnResult {
    const turn = this.turns.get(turnId);
    if (!turn) return { ok: false, code: "NOT_FOUND", error: `turn ${turnId} not found` };
    if (!turn.dead) return { ok: false, code: "CONFLICT", error: `turn ${turnId} is ${turn.state}, not a dead letter` };
    const queued = moveTurn(turn, "queued", now, { dead: false, error: null, detail: null, attempt: 0, step: 0, previous: [], startedAt: null, totalMs: null });
    this.save(queued);
    this.handOff(turn.agentType, null, now);
    return { ok: true, turn: turnView(this.turns.get(turnId) ?? queued) };
  }

  /**
   * Who answers the session from now on: "human" (nobody is called until it is handed back; a turn
   * in progress and those queued are cancelled) or an agent type.
   */
  handOff(to: string, by: string | null, now: number) {
    const meta = this.host.meta();
    if (!meta) return;
    const before: Session = meta.session;
    const since = new Date(now).toISOString();
    if (to === "human") {
      meta.session = {
        ...before,
        handler: "human",
        handlerUserId: by ?? (before.handler === "human" ? before.handlerUserId : null),
        handlerSince: before.handler === "human" ? before.handlerSince : since,
      };
      // The handler is human before anything is cancelled, so nothing queued starts in between.
      for (const t of [this.turns.live(), ...this.turns.queued()]) {
        if (t) this.finish(moveTurn(t, "cancelled", now, { error: "the session was handed to a human" }), now);
      }
    } else {
      meta.session = { ...before, agentType: to, handler: "agent", handlerUserId: null, handlerSince: since };
    }
    meta.handlingDirty = true;
    this.host.sessionChanged();
    this.pump(now);
  }

  /** An admin replying while a human holds the session takes it, if nobody has yet. */
  claim(adminId: string) {
    const meta = this.host.meta();
    if (!meta || meta.session.handler !== "human" || meta.session.handlerUserId) return;
    meta.session = { ...meta.session, handlerUserId: adminId };
    meta.handlingDirty = true;
    this.host.sessionChanged();
  }

  /** The session ended or expired: whatever runs stops. */
  stopAll(now: number) {
    for (const t of [this.turns.live(), ...this.turns.queued()]) if (t) this.finish(moveTurn(t, "cancelled", now, { error: "the session closed" }), now);
  }
}
