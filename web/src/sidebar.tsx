// The side panel's parts: the resume prompt, starting a conversation, your open conversations, the staff queue, search.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { errorMessage, httpStatus, type Api, type Session, type SessionListItem, type SearchHit } from "./chat-api";
import { parseSnippet } from "./snippet";

export const sessionName = (s: Pick<Session, "title" | "agentType">) => s.title ?? `Conversation with ${s.agentType}`;

export function when(iso: string): string {
  const d = new Date(iso);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.toLocaleDateString([], { month: "short", day: "numeric" });
}

export function ResumePrompt({ session, onResume, onDismiss }: { session: SessionListItem; onResume: () => void; onDismiss: () => void }) {
  const resume = useRef<HTMLButtonElement>(null);
  return (
    <section className="card prompt" aria-labelledby="resume-title">
      <h2 id="resume-title">Resume your conversation?</h2>
      <p>
        <strong>{sessionName(session)}</strong>
        {session.lastMessage && <span className="preview"> — “{session.lastMessage.content}”</span>}
      </p>
      <div className="row">
        <button type="button" className="primary" ref={resume} onClick={onResume}>
          Resume
        </button>
        <button type="button" onClick={onDismiss}>
          Not now
        </button>
      </div>
    </section>
  );
}

export function NewSession({ types, onStart }: { types: string[]; onStart: (agentType: string) => Promise<void> }) {
  const [agentType, setAgentType] = useState("");
  const [busy, setBusy] = useState(false);
  const options = types.length ? types : ["primary"];
  const chosen = options.includes(agentType) ? agentType : options[0]!;
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    await onStart(chosen);
    setBusy(false);
  }
  return (
    <section className="card" aria-labelledby="new-title">
      <h2 id="new-title">New conversation</h2>
      <form onSubmit={submit} className="row">
        <label htmlFor="start-agent">Agent</label>
        <select id="start-agent" value={chosen} onChange={(e) => setAgentType(e.target.value)}>
          {options.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
        <button type="submit" className="primary" disabled={busy}>
          Start
        </button>
      </form>
    </section>
  );
}

export function SessionList({ sessions, currentId, onResume }: { sessions: SessionListItem[] | null; currentId: string | undefined; onResume: (id: string) => void }) {
  return (
    <section className="card" aria-labelledby="mine-title">
      <h2 id="mine-title">Your open conversations</h2>
      {sessions === null ? (
        <p className="hint">Loading…</p>
      ) : sessions.length === 0 ? (
        <p className="hint">None yet.</p>
      ) : (
        <ul className="sessions">
          {sessions.map((s) => (
            <li key={s.id} aria-current={s.id === currentId ? "true" : undefined}>
              <div className="grow">
                <strong>{sessionName(s)}</strong> <span className={`pill ${s.status}`}>{s.status}</span>
                {s.lastMessage && <p className="preview">{s.lastMessage.content}</p>}
                <p className="meta">{when(s.lastActivityAt)}</p>
              </div>
              <button type="button" onClick={() => onResume(s.id)} aria-label={`Resume ${sessionName(s)}`}>
                Resume
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function WaitingList({ sessions, currentId, onOpen, onRefresh }: { sessions: Session[] | null; currentId: string | undefined; onOpen: (id: string) => void; onRefresh: () => Promise<void> }) {
  return (
    <section className="card staff" aria-labelledby="waiting-title">
      <h2 id="waiting-title">Waiting for a person</h2>
      {sessions === null ? (
        <p className="hint">Loading…</p>
      ) : sessions.length === 0 ? (
        <p className="hint">Nobody is waiting.</p>
      ) : (
        <ul className="sessions">
          {sessions.map((s) => (
            <li key={s.id} aria-current={s.id === currentId ? "true" : undefined}>
              <div className="grow">
                <strong>{s.userId}</strong> — {sessionName(s)}
                <p className="meta">
                  {s.handlerUserId ? `taken by ${s.handlerUserId}` : "not taken"} · waiting since {when(s.handlerSince ?? s.lastActivityAt)}
                </p>
              </div>
              <button type="button" onClick={() => onOpen(s.id)} aria-label={`Open the conversation of ${s.userId}`}>
                Open
              </button>
            </li>
          ))}
        </ul>
      )}
      <button type="button" className="link" onClick={() => void onRefresh()}>
        Refresh
      </button>
    </section>
  );
}

export function SearchBox({ api, onOpen, onError }: { api: Api; onOpen: (hit: SearchHit) => void; onError: (err: unknown) => void }) {
  const [q, setQ] = useState("");
  const [results, setResults] = useState<{ q: string; hits: SearchHit[]; nextCursor: string | null } | null>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const latest = useRef(0);

  async function run(cursor?: string) {
    const query = cursor ? results!.q : q.trim();
    if (!query) return;
    const run = ++latest.current;
    setBusy(true);
    setProblem(null);
    try {
      const page = await api.search({ q: query, limit: 10, ...(cursor ? { cursor } : {}) });
      if (run !== latest.current) return;
      setResults((prev) => ({ q: query, hits: cursor && prev ? [...prev.hits, ...page.results] : page.results, nextCursor: page.nextCursor }));
    } catch (err) {
      // Bad input (a query of punctuation only, say) is the searcher's to fix: say why, next to the box.
      if (httpStatus(err) === 400) setProblem(errorMessage(err));
      else onError(err);
    } finally {
      if (run === latest.current) setBusy(false);
    }
  }

  useEffect(() => {
    if (q.trim() === "") setResults(null);
  }, [q]);

  return (
    <section className="card" aria-labelledby="search-title">
      <h2 id="search-title">Search</h2>
      <form
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
        className="row"
      >
        <label htmlFor="search" className="visually-hidden">
          Search your messages
        </label>
        <input id="search" type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Search your messages" maxLength={200} />
        <button type="submit" disabled={busy}>
          Search
        </button>
      </form>
      <div role="status" className="hint">
        {problem ?? (busy ? "Searching…" : results ? `${results.hits.length}${results.nextCursor ? "+" : ""} result${results.hits.length === 1 ? "" : "s"} for “${results.q}”` : "")}
      </div>
      {results && results.hits.length > 0 && (
        <ul className="results">
          {results.hits.map((hit) => (
            <li key={hit.messageId}>
              <button type="button" className="result" onClick={() => onOpen(hit)}>
                <span className="meta">
                  {hit.sessionTitle ?? "Untitled conversation"} · {when(hit.createdAt)}
                </span>
                <span className="snippet">
                  {parseSnippet(hit.snippet).map((p, i) => (p.mark ? <mark key={i}>{p.text}</mark> : <span key={i}>{p.text}</span>))}
                </span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {results?.nextCursor && (
        <button type="button" className="link" onClick={() => void run(results.nextCursor!)} disabled={busy}>
          More results
        </button>
      )}
    </section>
  );
}
