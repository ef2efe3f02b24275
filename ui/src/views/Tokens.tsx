import { api, call, canWriteApps } from "../api";
import type { Session } from "../App";
import { Action, ErrorBox, Loading, useLoad } from "../ui";

export function Tokens({ session }: { session: Session }) {
  const tokens = useLoad(() => call(api.GET("/api/v1/tokens")), []);
  return (
    <section>
      <h1>Tokens</h1>
      <p className="muted">Kubeconfigs and API tokens issued in your scope. A revoked token is refused by the proxies within 2 seconds.</p>
      <ErrorBox error={tokens.error} />
      {tokens.loading && <Loading what="tokens" />}
      {tokens.data && (
        <div className="scroll">
          <table>
            <caption>Issued tokens</caption>
            <thead>
              <tr><th scope="col">Subject</th><th scope="col">Kind</th><th scope="col">Roles</th><th scope="col">Scope</th><th scope="col">Expires</th><th scope="col">State</th></tr>
            </thead>
            <tbody>
              {tokens.data.items.map((r) => (
                <tr key={r.jti}>
                  <td>{r.subject}{r.jti === session.jti ? " (this session)" : ""}</td>
                  <td>{r.kind}</td>
                  <td>{r.roles.join(", ")}</td>
                  <td>{r.tenant ? `${r.tenant}${r.project ? `/${r.project}` : ""}` : "platform"}</td>
                  <td>{new Date(r.expiresAt).toLocaleString()}</td>
                  <td>
                    {r.revoked ? "revoked" : canWriteApps(session.roles) && r.jti !== session.jti ? (
                      <Action label={`Revoke ${r.subject}'s ${r.kind}`} busyLabel="Revoking…" confirm={`Revoke this ${r.kind} token of ${r.subject}?`}
                        run={async () => { await call(api.DELETE("/api/v1/tokens/{jti}", { params: { path: { jti: r.jti } } })); tokens.reload(); }} />
                    ) : "active"}
                  </td>
                </tr>
              ))}
              {tokens.data.items.length === 0 && <tr><td colSpan={6}>No tokens issued in your scope.</td></tr>}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
