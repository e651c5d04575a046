// The sign-in screen: development sign-in (any user id, optionally as support staff), or a pasted token.
import { useState, type FormEvent } from "react";
import { devSignIn, errorMessage, type Auth } from "./chat-api";
import { authFromToken } from "./auth";

export function SignIn({ origin, onSignedIn, notice }: { origin: string; onSignedIn: (auth: Auth) => void; notice?: string | null }) {
  const [userId, setUserId] = useState(() => localStorage.getItem("edge-chat:last-user") ?? "alice");
  const [admin, setAdmin] = useState(false);
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const auth = await devSignIn(origin, { userId: userId.trim() || undefined, admin });
      localStorage.setItem("edge-chat:last-user", auth.userId);
      onSignedIn(auth);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  function useToken(e: FormEvent) {
    e.preventDefault();
    const auth = authFromToken(token);
    if (!auth) return setError("That is not a token this page can read (a JWT with a sub claim).");
    onSignedIn(auth);
  }

  return (
    <main className="sign-in" id="main">
      <h1>edge-chat</h1>
      <p className="lead">A support chat answered by agents. Sign in to start a conversation.</p>
      {notice && <p className="notice" role="status">{notice}</p>}
      <form onSubmit={submit} className="card" aria-labelledby="dev-sign-in-title">
        <h2 id="dev-sign-in-title">Development sign-in</h2>
        <p className="hint">Any user id works here: this server signs a development token for it.</p>
        <label htmlFor="user-id">User id</label>
        <input id="user-id" name="userId" value={userId} onChange={(e) => setUserId(e.target.value)} autoComplete="username" maxLength={64} required />
        <label className="check">
          <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.target.checked)} /> Sign in as support staff (admin)
        </label>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <details className="card">
        <summary>Use a token instead</summary>
        <form onSubmit={useToken}>
          <label htmlFor="token">Bearer token (from <code>npm run token -- alice</code>)</label>
          <textarea id="token" value={token} onChange={(e) => setToken(e.target.value)} rows={3} spellCheck={false} />
          <button type="submit">Use this token</button>
        </form>
      </details>
    </main>
  );
}
