import { useEffect, useState } from "react";
import { api, call, type Role, type Schemas } from "../api";
import { ErrorBox } from "../ui";

/** Issue a kubeconfig (tenant or project scope), download it, and copy a kubectl hint. */
export function Kubeconfig({ c, t, p, roles, defaultSubject, namespace }: {
  c: string; t: string; p?: string; roles: Role[]; defaultSubject: string; namespace?: string;
}) {
  const [subject, setSubject] = useState(defaultSubject);
  const [role, setRole] = useState<Role>(roles[0] ?? "readOnly");
  const [issued, setIssued] = useState<Schemas["KubeconfigView"]>();
  const [url, setUrl] = useState<string>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [copied, setCopied] = useState("");
  useEffect(() => () => { if (url) URL.revokeObjectURL(url); }, [url]);
  const file = `${p ? `${t}-${p}` : t}-${subject || "me"}.kubeconfig`;
  const hint = `kubectl --kubeconfig ${file} ${namespace ? `-n ${namespace} get pods` : "get namespaces"}`;
  return (
    <form className="card" aria-labelledby={`kc-${p ?? t}`}
      onSubmit={async (ev) => {
        ev.preventDefault();
        setBusy(true);
        setError(undefined);
        try {
          const body = { subject: subject || null, role: p ? role : null, ttlSeconds: null };
          const kc = p
            ? await call(api.POST("/api/v1/clusters/{c}/tenants/{t}/projects/{p}/kubeconfig", { params: { path: { c, t, p } }, body }))
            : await call(api.POST("/api/v1/clusters/{c}/tenants/{t}/kubeconfig", { params: { path: { c, t } }, body }));
          setIssued(kc);
          setUrl(URL.createObjectURL(new Blob([kc.kubeconfig], { type: "application/yaml" })));
        } catch (e) {
          setError(e);
        } finally {
          setBusy(false);
        }
      }}>
      <h2 id={`kc-${p ?? t}`}>Kubeconfig</h2>
      <p className="muted">A kubeconfig for kubectl, Helm or k9s, through KubeNova's proxy, for one person and role.</p>
      <label htmlFor="kc-subject">For (subject)</label>
      <input id="kc-subject" value={subject} onChange={(e) => setSubject(e.target.value)} required />
      {p && roles.length > 1 && (
        <>
          <label htmlFor="kc-role">Role</label>
          <select id="kc-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {roles.map((r) => <option key={r}>{r}</option>)}
          </select>
        </>
      )}
      <button type="submit" disabled={busy}>{busy ? "Issuing…" : "Issue kubeconfig"}</button>
      <ErrorBox error={error} />
      {issued && url && (
        <div className="issued" role="status">
          <p>
            Issued for {issued.subject} as {issued.role}, valid until {new Date(issued.expiresAt).toLocaleString()}.{" "}
            <a href={url} download={file} data-testid="kubeconfig-download">Download {file}</a>
          </p>
          <label htmlFor="kc-hint">Then run</label>
          <div className="copy">
            <input id="kc-hint" readOnly value={hint} onFocus={(e) => e.target.select()} />
            <button type="button" onClick={async () => {
              try {
                await navigator.clipboard.writeText(hint);
                setCopied("Copied.");
              } catch {
                setCopied("Select the command and copy it (the browser refused the clipboard).");
              }
            }}>Copy</button>
          </div>
          <p aria-live="polite" className="muted">{copied}</p>
        </div>
      )}
    </form>
  );
}
