import { useState } from "react";
import { ErrorBox } from "../ui";

export function SignIn({ onSignIn, notice }: { onSignIn: (token: string) => Promise<void>; notice: string | null }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  return (
    <section className="signin">
      <h1>Sign in to KubeNova</h1>
      {notice && <p className="notice" role="status" data-testid="notice">{notice}</p>}
      <form
        onSubmit={async (ev) => {
          ev.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            await onSignIn(token.trim());
          } catch (e) {
            setError(e);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label htmlFor="token">API token</label>
        <textarea id="token" name="token" rows={4} required autoComplete="off" spellCheck={false}
          value={token} onChange={(e) => setToken(e.target.value)} aria-describedby="token-help" />
        <p id="token-help" className="muted">
          Paste an API token (an admin gets one from <code>kubenova-control token --admin</code>; others from whoever
          manages their tenant). It is kept in this page's memory only: reloading the page signs you out.
        </p>
        <button type="submit" disabled={busy || token.trim() === ""}>{busy ? "Signing in…" : "Sign in"}</button>
        <ErrorBox error={error} />
      </form>
    </section>
  );
}
