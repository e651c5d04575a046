// The chat page's shell: sign-in, then the conversations (resume prompt, new, search, staff queue) beside the open one.
import { useCallback, useEffect, useMemo, useState } from "react";
import { loadAuth, saveAuth } from "./auth";
import { agentTypes, createApi, errorMessage, isUnauthorized, type Auth, type Session, type SessionListItem } from "./chat-api";
import { ChatView, type OpenMode } from "./chat-view";
import { NewSession, ResumePrompt, SearchBox, SessionList, WaitingList } from "./sidebar";
import { SignIn } from "./sign-in";

export function App() {
  const origin = window.location.origin;
  const [auth, setAuth] = useState<Auth | null>(loadAuth);
  const [notice, setNotice] = useState<string | null>(null);
  const signOut = useCallback((why: string | null = null) => {
    saveAuth(null);
    setAuth(null);
    setNotice(why);
  }, []);
  if (!auth) {
    return (
      <SignIn
        origin={origin}
        notice={notice}
        onSignedIn={(a) => {
          saveAuth(a);
          setNotice(null);
          setAuth(a);
        }}
      />
    );
  }
  return <ChatApp key={auth.token} origin={origin} auth={auth} onSignOut={signOut} />;
}

interface Open {
  sessionId: string;
  mode: OpenMode;
  /** A search hit to scroll to. */
  focusSeq?: number;
}

function ChatApp({ origin, auth, onSignOut }: { origin: string; auth: Auth; onSignOut: (why?: string | null) => void }) {
  const api = useMemo(() => createApi(origin, () => auth.token), [origin, auth.token]);
  const [open, setOpen] = useState<Open | null>(null);
  const [unresolved, setUnresolved] = useState<SessionListItem[] | null>(null);
  const [waiting, setWaiting] = useState<Session[] | null>(null);
  const [types, setTypes] = useState<string[]>([]);
  const [promptDismissed, setPromptDismissed] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const isAdmin = auth.role === "admin";

  const fail = useCallback(
    (err: unknown) => {
      if (isUnauthorized(err)) onSignOut("Your sign-in is no longer valid. Please sign in again.");
      else setError(errorMessage(err));
    },
    [onSignOut],
  );

  const refresh = useCallback(async () => {
    try {
      const [mine, queue] = await Promise.all([
        api.trpc.sessions.list.query({ userId: auth.userId, type: "unresolved", limit: 20 }),
        isAdmin ? api.trpc.sessions.waiting.query({ limit: 50 }) : Promise.resolve(null),
      ]);
      setUnresolved(mine.sessions);
      if (queue) setWaiting(queue.sessions);
    } catch (err) {
      fail(err);
    }
  }, [api, auth.userId, isAdmin, fail]);

  useEffect(() => {
    void refresh();
    void agentTypes(origin).then(setTypes);
    // Lists come from Postgres and change on other devices too: look again now and then, and on return.
    const timer = setInterval(() => void refresh(), isAdmin ? 5_000 : 30_000);
    const onFocus = () => void refresh();
    window.addEventListener("focus", onFocus);
    return () => {
      clearInterval(timer);
      window.removeEventListener("focus", onFocus);
    };
  }, [refresh, origin, isAdmin]);

  async function start(agentType: string) {
    setError(null);
    try {
      const session = await api.trpc.sessions.create.mutate({ agentType });
      setPromptDismissed(true);
      setOpen({ sessionId: session.id, mode: "view" });
      void refresh();
    } catch (err) {
      fail(err);
    }
  }

  const openSession = (sessionId: string, mode: OpenMode, focusSeq?: number) => {
    setError(null);
    setPromptDismissed(true);
    setOpen({ sessionId, mode, ...(focusSeq !== undefined ? { focusSeq } : {}) });
  };

  const latest = unresolved?.[0];
  const showPrompt = !open && !promptDismissed && latest !== undefined;

  return (
    <div className="app" data-view={open ? "chat" : "home"}>
      <a
        className="skip-link"
        href={open ? "#composer" : "#start-agent"}
        onClick={(e) => {
          // Fragment links scroll but do not always move the focus: move it.
          e.preventDefault();
          document.getElementById(open ? "composer" : "start-agent")?.focus();
        }}
      >
        {open ? "Skip to the message box" : "Skip to start a conversation"}
      </a>
      <header className="topbar">
        <h1>edge-chat</h1>
        <p className="who">
          Signed in as <strong>{auth.userId}</strong>
          {isAdmin && " (support staff)"}
        </p>
        <button type="button" onClick={() => onSignOut()}>
          Sign out
        </button>
      </header>
      {error && (
        <p className="error banner" role="alert">
          {error}{" "}
          <button type="button" className="link" onClick={() => setError(null)}>
            Dismiss
          </button>
        </p>
      )}
      <div className="layout">
        <aside className="sidebar" aria-label="Conversations">
          {showPrompt && latest && (
            <ResumePrompt session={latest} onResume={() => openSession(latest.id, "resume")} onDismiss={() => setPromptDismissed(true)} />
          )}
          {isAdmin && <WaitingList sessions={waiting} currentId={open?.sessionId} onOpen={(id) => openSession(id, "view")} onRefresh={refresh} />}
          <NewSession types={types} onStart={start} />
          <SessionList sessions={unresolved} currentId={open?.sessionId} onResume={(id) => openSession(id, "resume")} />
          <SearchBox api={api} onOpen={(hit) => openSession(hit.sessionId, "view", hit.seq)} onError={fail} />
        </aside>
        <main className="chat-pane" id="main">
          {open ? (
            <ChatView
              key={open.sessionId}
              api={api}
              auth={auth}
              sessionId={open.sessionId}
              mode={open.mode}
              focusSeq={open.focusSeq}
              types={types}
              onBack={() => {
                setOpen(null);
                void refresh();
              }}
              onChanged={refresh}
              onError={fail}
            />
          ) : (
            <div className="empty">
              <h2>No conversation open</h2>
              <p>Resume one of yours, or start a new one with an agent.</p>
            </div>
          )}
        </main>
      </div>
    </div>
  );
}
