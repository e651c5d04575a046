// The open conversation: history (older pages on scroll-up), live messages, the reply being written, typing, stop, resolve/end, staff replies.
import { useCallback, useEffect, useLayoutEffect, useReducer, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { errorMessage, type Api, type Auth, type LiveSession, type Message, type Session, type SocketState } from "./chat-api";
import { chatReducer, initialChatState, runningTurn, type Writing } from "./chat-state";
import { sessionName, when } from "./sidebar";

export type OpenMode = "resume" | "view";

interface Props {
  api: Api;
  auth: Auth;
  sessionId: string;
  /** resume: reactivate (your own idle or resolved session); view: read as is (new sessions, search hits, staff). */
  mode: OpenMode;
  focusSeq?: number | undefined;
  types: string[];
  onBack: () => void;
  onChanged: () => Promise<void>;
  onError: (err: unknown) => void;
}

interface Pending {
  clientId: string;
  content: string;
  failed?: string;
}

const OLDER_PAGE = 50;

export function ChatView({ api, auth, sessionId, mode, focusSeq, onBack, onChanged, onError }: Props) {
  const [session, setSession] = useState<Session | null>(null);
  const [chat, dispatch] = useReducer(chatReducer, initialChatState);
  const [socketState, setSocketState] = useState<SocketState>("connecting");
  const [loadError, setLoadError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [input, setInput] = useState("");
  const [pending, setPending] = useState<Pending[]>([]);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const live = useRef<LiveSession | null>(null);
  const list = useRef<HTMLOListElement>(null);
  const composer = useRef<HTMLTextAreaElement>(null);
  const nearBottom = useRef(true);
  const keepOffset = useRef<number | null>(null);
  const typingSent = useRef(false);
  const typingTimer = useRef<ReturnType<typeof setTimeout>>(undefined);

  const isStaff = auth.role === "admin" && session !== null && session.userId !== auth.userId;
  const closed = session?.status === "ended" || session?.status === "expired";

  // Load the history, then go live from its last seq.
  useEffect(() => {
    let gone = false;
    let socket: LiveSession | null = null;
    let listTimer: ReturnType<typeof setTimeout> | undefined;
    (async () => {
      try {
        const page = mode === "resume" ? await api.trpc.sessions.resume.mutate({ sessionId }) : await api.trpc.sessions.get.query({ sessionId });
        if (gone) return;
        setSession(page.session);
        dispatch({ type: "loaded", messages: page.messages, hasOlder: page.nextCursor !== null });
        if (mode === "resume") void onChanged();
        if (page.session.status === "ended" || page.session.status === "expired") return setSocketState("closed");
        socket = api.connect(sessionId, { since: page.messages.at(-1)?.seq ?? page.session.lastSeq });
        live.current = socket;
        socket.on("message", (message) => {
          dispatch({ type: "message", message });
          // The side panel shows each conversation's last message: refresh it once things settle.
          clearTimeout(listTimer);
          listTimer = setTimeout(() => void onChanged(), 1_500);
        });
        socket.on("turn", (turn) => dispatch({ type: "turn", turn }));
        socket.on("delta", (d) => dispatch({ type: "delta", turnId: d.turnId, attempt: d.attempt, text: d.text }));
        socket.on("typing", (t) => {
          if (t.userId !== auth.userId) dispatch({ type: "typing", userId: t.userId, isTyping: t.isTyping, now: Date.now() });
        });
        socket.on("session", (s) => setSession(s));
        socket.on("state", setSocketState);
        socket.on("error", (e) => setStatus(e.message));
      } catch (err) {
        if (gone) return;
        setLoadError(errorMessage(err));
        onError(err);
      }
    })();
    return () => {
      gone = true;
      socket?.close();
      clearTimeout(listTimer);
      live.current = null;
      clearTimeout(typingTimer.current);
    };
    // Only a new session or mode is a new connection (the callbacks may change identity on every render).
  }, [api, sessionId, mode]);

  // Typing indicators lapse on their own.
  useEffect(() => {
    if (Object.keys(chat.typing).length === 0) return;
    const timer = setInterval(() => dispatch({ type: "tick", now: Date.now() }), 1_000);
    return () => clearInterval(timer);
  }, [chat.typing]);

  // Put the cursor in the message box once the conversation is there.
  useEffect(() => {
    if (session && !closed) composer.current?.focus({ preventScroll: true });
  }, [session !== null, closed]);

  const loadOlder = useCallback(async () => {
    const first = chat.messages[0];
    if (!chat.hasOlder || loadingOlder || !first) return;
    setLoadingOlder(true);
    try {
      const page = await api.trpc.messages.history.query({ sessionId, before: first.seq, limit: OLDER_PAGE });
      keepOffset.current = list.current ? list.current.scrollHeight - list.current.scrollTop : null;
      dispatch({ type: "older", messages: page.messages, hasOlder: page.nextCursor !== null });
    } catch (err) {
      onError(err);
    } finally {
      setLoadingOlder(false);
    }
  }, [api, sessionId, chat.messages, chat.hasOlder, loadingOlder, onError]);

  // Scrolling: stay at the bottom while the user is there; keep the view still when older messages come in above.
  const lastWriting = Object.values(chat.writing).map((w) => w.text.length).join();
  useLayoutEffect(() => {
    const el = list.current;
    if (!el) return;
    if (keepOffset.current !== null) {
      el.scrollTop = el.scrollHeight - keepOffset.current;
      keepOffset.current = null;
    } else if (nearBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [chat.messages, lastWriting, pending.length]);

  // A search hit: page back until it is here, then show it.
  useEffect(() => {
    if (focusSeq === undefined || chat.messages.length === 0) return;
    const el = document.getElementById(`m-${sessionId}-${focusSeq}`);
    if (el) {
      nearBottom.current = false;
      el.scrollIntoView({ block: "center" });
    } else if (chat.hasOlder && chat.messages[0]!.seq > focusSeq) {
      void loadOlder();
    }
  }, [focusSeq, chat.messages, chat.hasOlder, sessionId, loadOlder]);

  function onScroll() {
    const el = list.current;
    if (!el) return;
    nearBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
    if (el.scrollTop < 80) void loadOlder();
  }

  function typing(isTyping: boolean) {
    clearTimeout(typingTimer.current);
    if (isTyping) typingTimer.current = setTimeout(() => typing(false), 3_000);
    if (typingSent.current === isTyping) return;
    typingSent.current = isTyping;
    live.current?.typing(isTyping);
  }

  function send(e?: FormEvent) {
    e?.preventDefault();
    const content = input.trim();
    const socket = live.current;
    if (!content || !socket) return;
    const clientId = crypto.randomUUID();
    setInput("");
    setStatus(null);
    typing(false);
    nearBottom.current = true;
    setPending((p) => [...p, { clientId, content }]);
    socket.send(content, { clientId }).then(
      () => setPending((p) => p.filter((x) => x.clientId !== clientId)),
      (err: unknown) => setPending((p) => p.map((x) => (x.clientId === clientId ? { ...x, failed: errorMessage(err) } : x))),
    );
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) send(e);
  }

  async function act(what: string, run: () => Promise<Session>) {
    setStatus(null);
    try {
      setSession(await run());
      setStatus(what);
      void onChanged();
    } catch (err) {
      setStatus(errorMessage(err));
    }
  }

  if (loadError) {
    return (
      <section className="chat" aria-label="Conversation">
        <p className="error" role="alert">
          This conversation could not be opened: {loadError}
        </p>
        <button type="button" onClick={onBack}>
          Back to conversations
        </button>
      </section>
    );
  }
  if (!session) return <p className="hint chat-loading">Opening the conversation…</p>;

  const running = runningTurn(chat);
  const typingNames = Object.keys(chat.typing).map((id) => (id === session.userId ? (isStaff ? "The customer" : "You (elsewhere)") : id.startsWith("agent:") ? "The assistant" : "Support"));
  const shownPending = pending.filter((p) => !chat.messages.some((m) => m.clientId === p.clientId));
  const staffMayWrite = !isStaff || session.handler === "human";

  return (
    <section className="chat" aria-labelledby="chat-title">
      <header className="chat-head">
        <button type="button" className="back" onClick={onBack}>
          <span aria-hidden="true">←</span> Conversations
        </button>
        <div className="grow">
          <h2 id="chat-title">{sessionName(session)}</h2>
          <p className="meta">
            {isStaff && <>Customer {session.userId} · </>}
            Agent {session.agentType} · <span className={`pill ${session.status}`}>{session.status}</span>
            {session.handler === "human" && <span className="pill human">{session.handlerUserId ? `with ${session.handlerUserId}` : "waiting for a person"}</span>}
          </p>
        </div>
        <div className="actions">
          {isStaff && session.handler === "agent" && !closed && (
            <button type="button" onClick={() => void act("You took over this conversation.", () => api.trpc.sessions.handoff.mutate({ sessionId, to: "human" }))}>
              Take over
            </button>
          )}
          {isStaff && session.handler === "human" && !closed && (
            <button type="button" onClick={() => void act(`Handed back to ${session.agentType}.`, () => api.trpc.sessions.handoff.mutate({ sessionId, to: session.agentType }))}>
              Hand back to {session.agentType}
            </button>
          )}
          {(session.status === "active" || session.status === "idle") && (
            <button type="button" onClick={() => void act("Marked as resolved.", () => api.trpc.sessions.resolve.mutate({ sessionId }))}>
              Resolve
            </button>
          )}
          {!closed && !isStaff && (
            <button
              type="button"
              className="danger"
              onClick={() => {
                if (window.confirm("End this conversation? It cannot be continued afterwards.")) void act("The conversation has ended.", () => api.trpc.sessions.end.mutate({ sessionId }));
              }}
            >
              End conversation
            </button>
          )}
        </div>
      </header>

      {socketState !== "open" && !closed && (
        <p className="notice" role="status">
          {socketState === "connecting" ? "Connecting…" : "Offline — reconnecting…"}
        </p>
      )}

      <ol className="messages" ref={list} onScroll={onScroll} role="log" aria-live="polite" aria-relevant="additions" aria-label="Messages" tabIndex={0}>
        <li className="older">
          {chat.hasOlder ? (
            <button type="button" className="link" onClick={() => void loadOlder()} disabled={loadingOlder}>
              {loadingOlder ? "Loading older messages…" : "Load older messages"}
            </button>
          ) : (
            <span className="hint">{chat.messages.length ? "Start of the conversation" : "No messages yet. Say hello."}</span>
          )}
        </li>
        {chat.messages.map((m) => (
          <Bubble key={m.seq} m={m} sessionId={sessionId} me={auth.userId} isStaff={isStaff} found={m.seq === focusSeq} />
        ))}
        {shownPending.map((p) => (
          <li key={p.clientId} className={`bubble ${isStaff ? "staff" : "customer"} mine pending`}>
            <span className="who">You</span>
            <p>{p.content}</p>
            <span className="meta">{p.failed ? `Not sent: ${p.failed}` : "Sending…"}</span>
          </li>
        ))}
        {Object.values(chat.writing)
          .filter((w) => w.text !== "")
          .map((w) => (
            <WritingBubble key={w.turnId} w={w} isStaff={isStaff} />
          ))}
      </ol>

      <div className="below">
        <p className="typing" aria-live="polite">
          {running && running.text === "" && <>{running.state === "waiting_callback" ? "The assistant is looking into it…" : running.state === "retry_wait" ? "The assistant is retrying…" : "The assistant is typing…"}</>}
          {typingNames.length > 0 && <> {typingNames.join(", ")} {typingNames.length === 1 ? "is" : "are"} typing…</>}
        </p>
        {running && live.current && (
          <button type="button" className="stop" onClick={() => live.current?.cancelTurn(running.turnId)}>
            Stop reply
          </button>
        )}
      </div>
      <p className="status" role="status">
        {chat.notice ?? status ?? (closed ? `This conversation has ${session.status === "ended" ? "ended" : "expired"}.` : "")}
      </p>

      <form className="composer" onSubmit={send}>
        <label htmlFor="composer">{isStaff ? "Reply as support" : "Message"}</label>
        <div className="row">
          <textarea
            id="composer"
            ref={composer}
            rows={2}
            value={input}
            maxLength={8000}
            disabled={closed || !staffMayWrite}
            aria-describedby="composer-hint"
            onChange={(e) => {
              setInput(e.target.value);
              typing(e.target.value !== "");
            }}
            onBlur={() => typing(false)}
            onKeyDown={onKeyDown}
          />
          <button type="submit" className="primary" disabled={closed || !staffMayWrite || input.trim() === ""}>
            Send
          </button>
        </div>
        <p id="composer-hint" className="hint">
          {closed ? "This conversation is closed." : !staffMayWrite ? "Take over to reply as support." : "Enter sends, Shift+Enter starts a new line."}
        </p>
      </form>
    </section>
  );
}

function Bubble({ m, sessionId, me, isStaff, found }: { m: Message; sessionId: string; me: string; isStaff: boolean; found: boolean }) {
  const kind = m.agentInfo?.kind;
  if (m.direction === "system") {
    return (
      <li id={`m-${sessionId}-${m.seq}`} className={`system${found ? " found" : ""}`}>
        <p>{m.content}</p>
      </li>
    );
  }
  const customer = m.direction === "incoming";
  const mine = customer ? !isStaff : isStaff && kind === "human" && m.userId === me;
  const who = customer ? (isStaff ? `Customer (${m.userId})` : "You") : kind === "human" ? (mine ? "You (support)" : "Support") : "Assistant";
  return (
    <li id={`m-${sessionId}-${m.seq}`} className={`bubble ${customer ? "customer" : kind === "human" ? "staff" : "agent"}${mine ? " mine" : ""}${found ? " found" : ""}`} data-seq={m.seq}>
      <span className="who">{who}</span>
      <p>{m.content}</p>
      <time className="meta" dateTime={m.createdAt}>
        {when(m.createdAt)}
      </time>
    </li>
  );
}

function WritingBubble({ w, isStaff }: { w: Writing; isStaff: boolean }) {
  return (
    <li className={`bubble agent writing${isStaff ? " for-staff" : ""}`} aria-busy="true" data-turn={w.turnId}>
      <span className="who">Assistant</span>
      <p>
        {w.text}
        <span className="caret" aria-hidden="true" />
      </p>
      <span className="meta">{w.state === "done" ? "saving…" : "writing…"}</span>
    </li>
  );
}
