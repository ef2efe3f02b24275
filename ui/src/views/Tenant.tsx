import { useState } from "react";
import { api, call, canOwn, isPlatform } from "../api";
import type { Session } from "../App";
import { href, navigate } from "../router";
import { Conditions, DNS_LABEL, DNS_LABEL_HINT, ErrorBox, Link, list, Loading, UsageBars, useLoad } from "../ui";
import { Kubeconfig } from "./Kubeconfig";

export function Tenant({ session, c, t }: { session: Session; c: string; t: string }) {
  const path = { c, t };
  const tenant = useLoad(() => call(api.GET("/api/v1/clusters/{c}/tenants/{t}", { params: { path } })), [c, t]);
  const usage = useLoad(() => call(api.GET("/api/v1/tenants/{t}/usage", { params: { path: { t } } })), [t], 10000);
  const projects = useLoad(() => call(api.GET("/api/v1/clusters/{c}/tenants/{t}/projects", { params: { path } })), [c, t]);
  const tv = tenant.data;
  return (
    <section>
      <p className="crumbs">{isPlatform(session.roles) ? <Link to="/ui/tenants">Tenants</Link> : "Tenant"} / {t}</p>
      <h1>Tenant {tv?.displayName ?? t}</h1>
      <ErrorBox error={tenant.error} />
      {tenant.loading && <Loading what="the tenant" />}
      {tv && (
        <div className="grid">
          <article className="card" aria-labelledby="t-settings">
            <h2 id="t-settings">Settings</h2>
            <dl>
              <dt>Cluster</dt><dd>{tv.cluster}</dd>
              <dt>Owners</dt><dd data-testid="owners">{list(tv.owners)}</dd>
              <dt>Pod security</dt><dd>{tv.podSecurity}</dd>
              <dt>Default limits</dt>
              <dd>
                CPU {tv.limits.defaultCpuRequest ?? "-"} / {tv.limits.defaultCpuLimit ?? "-"}, memory{" "}
                {tv.limits.defaultMemoryRequest ?? "-"} / {tv.limits.defaultMemoryLimit ?? "-"} (request / limit)
              </dd>
              <dt>Network isolation</dt><dd>{tv.networkPolicy.isolation}</dd>
              <dt>Allowed in from</dt><dd>{list(tv.networkPolicy.allowFromNamespaces)}</dd>
              <dt>Allowed out to</dt><dd>{list(tv.networkPolicy.allowToNamespaces)}</dd>
              <dt>Egress blocks</dt><dd>{list(tv.networkPolicy.allowEgress?.map((e) => e.cidr))}</dd>
              <dt>Ingress hosts</dt><dd>{list(tv.ingressHosts)}</dd>
              <dt>Namespaces</dt><dd>{list(tv.status.namespaces)}</dd>
            </dl>
            <Conditions items={tv.status.conditions} caption={`Conditions of tenant ${t}`} />
          </article>
          <article className="card" aria-labelledby="t-usage">
            <h2 id="t-usage">Quota use</h2>
            <ErrorBox error={usage.error} />
            {usage.data && <UsageBars usage={usage.data.usage} label={`tenant ${t}`} />}
          </article>
        </div>
      )}
      <article className="card" aria-labelledby="t-projects">
        <h2 id="t-projects">Projects</h2>
        <ErrorBox error={projects.error} />
        {projects.data && (
          <ul className="links">
            {projects.data.items.map((p) => (
              <li key={p.name}>
                <Link to={href.project(c, t, p.name)}>{p.name}</Link>{" "}
                <span className="muted">({p.namespace}, {p.status.ready ? "ready" : "not ready yet"})</span>
              </li>
            ))}
            {projects.data.items.length === 0 && <li>No projects yet.</li>}
          </ul>
        )}
        {canOwn(session.roles) && <CreateProject c={c} t={t} />}
      </article>
      {canOwn(session.roles) && tv && <Kubeconfig c={c} t={t} roles={["tenantOwner"]} defaultSubject={tv.owners[0] ?? session.subject} />}
    </section>
  );
}

const split = (s: string) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

function CreateProject({ c, t }: { c: string; t: string }) {
  const [name, setName] = useState("");
  const [developers, setDevelopers] = useState("");
  const [readers, setReaders] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  return (
    <form aria-labelledby="new-project"
      onSubmit={async (ev) => {
        ev.preventDefault();
        setBusy(true);
        setError(undefined);
        try {
          const p = await call(api.POST("/api/v1/clusters/{c}/tenants/{t}/projects", {
            params: { path: { c, t } },
            body: {
              name, access: { developers: split(developers), readers: split(readers) },
              annotations: {}, labels: {}, limits: null, podSecurity: null, quota: null,
            },
          }));
          navigate(href.project(c, t, p.name));
        } catch (e) {
          setError(e);
        } finally {
          setBusy(false);
        }
      }}>
      <h3 id="new-project">New project</h3>
      <label htmlFor="np-name">Name</label>
      <input id="np-name" required pattern={DNS_LABEL} title={DNS_LABEL_HINT} maxLength={22} value={name} onChange={(e) => setName(e.target.value)} />
      <label htmlFor="np-dev">Developers (comma separated)</label>
      <input id="np-dev" value={developers} onChange={(e) => setDevelopers(e.target.value)} />
      <label htmlFor="np-read">Readers (comma separated)</label>
      <input id="np-read" value={readers} onChange={(e) => setReaders(e.target.value)} />
      <button type="submit" disabled={busy}>{busy ? "Creating…" : "Create project"}</button>
      <ErrorBox error={error} />
    </form>
  );
}
