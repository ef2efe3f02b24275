import { useState } from "react";
import { api, call } from "../api";
import type { Session } from "../App";
import { href, navigate } from "../router";
import { DNS_LABEL, DNS_LABEL_HINT, ErrorBox, Link, Loading, useLoad } from "../ui";

export function Tenants({ session }: { session: Session }) {
  const tenants = useLoad(() => call(api.GET("/api/v1/tenants")), []);
  const clusters = useLoad(() => call(api.GET("/api/v1/clusters")), []);
  return (
    <section>
      <h1>Tenants</h1>
      <ErrorBox error={tenants.error} />
      {tenants.loading && <Loading what="tenants" />}
      {tenants.data?.unreachable?.map((u) => (
        <p key={u.cluster} className="error" role="alert">Cluster {u.cluster} did not answer: {u.message}</p>
      ))}
      {tenants.data && (
        <div className="scroll">
          <table>
            <caption>Every tenant of every cluster</caption>
            <thead>
              <tr><th scope="col">Tenant</th><th scope="col">Cluster</th><th scope="col">Owners</th><th scope="col">Ready</th></tr>
            </thead>
            <tbody>
              {tenants.data.items.map((t) => (
                <tr key={`${t.cluster}/${t.name}`}>
                  <td><Link to={href.tenant(t.cluster, t.name)}>{t.displayName ?? t.name}</Link></td>
                  <td>{t.cluster}</td>
                  <td>{t.owners.join(", ")}</td>
                  <td>{t.status.ready ? "yes" : "not yet"}</td>
                </tr>
              ))}
              {tenants.data.items.length === 0 && <tr><td colSpan={4}>No tenants yet.</td></tr>}
            </tbody>
          </table>
        </div>
      )}
      {session.roles.some((r) => r === "admin" || r === "ops") && (
        <CreateTenant clusters={clusters.data?.items.map((c) => c.name) ?? []} />
      )}
    </section>
  );
}

const split = (s: string) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

function CreateTenant({ clusters }: { clusters: string[] }) {
  const [cluster, setCluster] = useState("");
  const [name, setName] = useState("");
  const [owners, setOwners] = useState("");
  const [cpu, setCpu] = useState("4");
  const [memory, setMemory] = useState("8Gi");
  const [pods, setPods] = useState("50");
  const [hosts, setHosts] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const c = cluster || clusters[0] || "";
  return (
    <form className="card" aria-labelledby="new-tenant"
      onSubmit={async (ev) => {
        ev.preventDefault();
        setBusy(true);
        setError(undefined);
        try {
          const t = await call(api.POST("/api/v1/clusters/{c}/tenants", {
            params: { path: { c } },
            body: {
              name, owners: split(owners), displayName: null, annotations: {}, labels: {},
              ingressClasses: [], ingressHosts: split(hosts), storageClasses: [], limits: {},
              networkPolicy: { isolation: "tenant" }, podSecurity: "baseline", preventDeletion: false,
              quota: { cpu: cpu || null, memory: memory || null, pods: pods ? Number(pods) : null },
            },
          }));
          navigate(href.tenant(t.cluster, t.name));
        } catch (e) {
          setError(e);
        } finally {
          setBusy(false);
        }
      }}>
      <h2 id="new-tenant">New tenant</h2>
      <label htmlFor="nt-cluster">Cluster</label>
      <select id="nt-cluster" value={c} onChange={(e) => setCluster(e.target.value)} required>
        {clusters.map((x) => <option key={x}>{x}</option>)}
      </select>
      <label htmlFor="nt-name">Name</label>
      <input id="nt-name" required pattern={DNS_LABEL} title={DNS_LABEL_HINT} maxLength={40} value={name} onChange={(e) => setName(e.target.value)}
        aria-describedby="nt-name-help" />
      <p id="nt-name-help" className="muted">Up to 40 {DNS_LABEL_HINT}; unique across clusters.</p>
      <label htmlFor="nt-owners">Owners (comma separated)</label>
      <input id="nt-owners" required value={owners} onChange={(e) => setOwners(e.target.value)} />
      <label htmlFor="nt-hosts">Ingress hosts (comma separated, optional)</label>
      <input id="nt-hosts" value={hosts} onChange={(e) => setHosts(e.target.value)} aria-describedby="nt-hosts-help" />
      <p id="nt-hosts-help" className="muted">Host names its apps' Ingresses may use, e.g. <code>*.acme.example.com</code>; no other tenant may use them.</p>
      <fieldset>
        <legend>Quota</legend>
        <label htmlFor="nt-cpu">CPU</label>
        <input id="nt-cpu" value={cpu} onChange={(e) => setCpu(e.target.value)} />
        <label htmlFor="nt-memory">Memory</label>
        <input id="nt-memory" value={memory} onChange={(e) => setMemory(e.target.value)} />
        <label htmlFor="nt-pods">Pods</label>
        <input id="nt-pods" type="number" min={0} value={pods} onChange={(e) => setPods(e.target.value)} />
      </fieldset>
      <button type="submit" disabled={busy}>{busy ? "Creating…" : "Create tenant"}</button>
      <ErrorBox error={error} />
    </form>
  );
}
