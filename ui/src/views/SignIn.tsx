import { useState } from "react";
import { api, call } from "../api";
import { start, type Provider } from "../oidc";
import { ErrorBox, useLoad } from "../ui";

export function SignIn({ onSignIn, notice, error: providerError }: {
  onSignIn: (token: string) => Promise<void>;
  notice: string | null;
  error?: unknown;
}) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [redirecting, setRedirecting] = useState<string | null>(null);
  const [startError, setStartError] = useState<unknown>();
  const providers = useLoad(() => call(api.GET("/api/v1/login/oidc"), { signOutOn401: false }), []);
  const list: Provider[] = providers.data?.providers ?? [];
  return (
    <section className="signin">
      <h1>Sign in to KubeNova</h1>
      {notice && <p className="notice" role="status" data-testid="notice">{notice}</p>}
      <ErrorBox error={providerError} />
      {list.length > 0 && (
        <div className="card" aria-labelledby="idp">
          <h2 id="idp">With your identity provider</h2>
          <ul className="links">
            {list.map((p) => (
              <li key={p.name}>
                <button type="button" disabled={redirecting !== null} onClick={async () => {
                  setRedirecting(p.name);
                  setStartError(undefined);
                  try {
                    await start(p);
                  } catch (e) {
                    setStartError(e);
                    setRedirecting(null);
                  }
                }}>
                  {redirecting === p.name ? `Going to ${p.name}…` : `Sign in with ${p.name}`}
                </button>
              </li>
            ))}
          </ul>
          <p className="muted">Your groups there decide your role here. The API token you get is kept in this page&apos;s memory only.</p>
          <ErrorBox error={startError} />
        </div>
      )}
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
        {list.length > 0 && <h2>With an API token</h2>}
        <label htmlFor="token">API token</label>
        <textarea id="token" name="token" rows={4} required autoComplete="off" spellCheck={false}
          value={token} onChange={(e) => setToken(e.target.value)} aria-describedby="token-help" />
        <p id="token-help" className="muted">
          Paste an API token (an admin gets one from <code>kubenova-control token --admin</code>; others from whoever
          manages their tenant). It is kept in this page&apos;s memory only: reloading the page signs you out.
        </p>
        <button type="submit" disabled={busy || token.trim() === ""}>{busy ? "Signing in…" : "Sign in"}</button>
        <ErrorBox error={error} />
      </form>
    </section>
  );
}
