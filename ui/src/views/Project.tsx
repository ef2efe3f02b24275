import { useState } from "react";
import { api, call, canOwn, canReadSettings, canWriteApps, type Role } from "../api";
import type { Session } from "../App";
import { href, navigate } from "../router";
import { Conditions, DNS_LABEL, DNS_LABEL_HINT, ErrorBox, Link, list, Loading, UsageBars, useLoad } from "../ui";
import { Kubeconfig } from "./Kubeconfig";

export function Project({ session, c, t, p }: { session: Session; c: string; t: string; p: string }) {
  const path = { c, t, p };
  // A project developer may not read the project's settings or usage: only its apps.
  const settings = canReadSettings(session.roles);
  const project = useLoad(() => settings ? call(api.GET("/api/v1/clusters/{c}/tenants/{t}/projects/{p}", { params: { path } })) : Promise.resolve(undefined), [c, t, p]);
  const usage = useLoad(() => settings ? call(api.GET("/api/v1/clusters/{c}/tenants/{t}/projects/{p}/usage", { params: { path } })) : Promise.resolve(undefined), [c, t, p], 10000);
  const apps = useLoad(() => call(api.GET("/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps", { params: { path } })), [c, t, p], 5000);
  const pv = project.data;
  const kcRoles: Role[] = canOwn(session.roles) ? ["projectDev", "readOnly"] : session.roles.includes("projectDev") ? ["projectDev"] : [];
  return (
    <section>
      <p className="crumbs">
        {session.project ? `Tenant ${t}` : <Link to={href.tenant(c, t)}>Tenant {t}</Link>} / {p}
      </p>
      <h1>Project {p}</h1>
      <ErrorBox error={project.error} />
      {settings && project.loading && <Loading what="the project" />}
      {pv && (
        <div className="grid">
          <article className="card" aria-labelledby="p-access">
            <h2 id="p-access">Access</h2>
            <dl>
              <dt>Namespace</dt><dd><code>{pv.namespace}</code></dd>
              <dt>Developers</dt><dd data-testid="developers">{list(pv.access.developers)}</dd>
              <dt>Readers</dt><dd>{list(pv.access.readers)}</dd>
              <dt>Pod security</dt><dd>{pv.podSecurity ?? "the tenant's"}</dd>
            </dl>
            <Conditions items={pv.status.conditions} caption={`Conditions of project ${p}`} />
          </article>
          <article className="card" aria-labelledby="p-usage">
            <h2 id="p-usage">Quota use</h2>
            <ErrorBox error={usage.error} />
            {usage.data && <UsageBars usage={usage.data.usage} label={`project ${p}`} />}
          </article>
        </div>
      )}
      <article className="card" aria-labelledby="p-apps">
        <h2 id="p-apps">Apps</h2>
        <ErrorBox error={apps.error} />
        {apps.data && (
          <div className="scroll">
            <table>
              <caption>Apps in {p}</caption>
              <thead><tr><th scope="col">App</th><th scope="col">Kind</th><th scope="col">Phase</th><th scope="col">Revision</th></tr></thead>
              <tbody>
                {apps.data.items.map((a) => (
                  <tr key={a.name}>
                    <td><Link to={href.app(c, t, p, a.name)}>{a.name}</Link></td>
                    <td>{a.spec.helm ? `chart ${a.spec.helm.chart}` : `image ${a.spec.image?.image ?? ""}`}</td>
                    <td>{a.spec.suspended ? "suspended" : (a.status.phase ?? "pending")}</td>
                    <td>{a.status.revision ?? "-"}</td>
                  </tr>
                ))}
                {apps.data.items.length === 0 && <tr><td colSpan={4}>No apps yet.</td></tr>}
              </tbody>
            </table>
          </div>
        )}
      </article>
      {canWriteApps(session.roles) && <CreateApp c={c} t={t} p={p} />}
      {kcRoles.length > 0 && (pv || !settings) && (
        <Kubeconfig c={c} t={t} p={p} roles={kcRoles} namespace={pv?.namespace ?? `${t}-${p}`}
          defaultSubject={canOwn(session.roles) ? (pv?.access.developers?.[0] ?? session.subject) : session.subject} />
      )}
    </section>
  );
}

function CreateApp({ c, t, p }: { c: string; t: string; p: string }) {
  const [kind, setKind] = useState<"image" | "chart">("image");
  const [name, setName] = useState("grafana");
  const [image, setImage] = useState("grafana/grafana");
  const [tag, setTag] = useState("11.3.0");
  const [port, setPort] = useState("3000");
  const [replicas, setReplicas] = useState("1");
  const [cpu, setCpu] = useState("100m");
  const [memory, setMemory] = useState("128Mi");
  const [repo, setRepo] = useState("");
  const [chart, setChart] = useState("wordpress");
  const [version, setVersion] = useState("");
  const [values, setValues] = useState("{}");
  const [repoUser, setRepoUser] = useState("");
  const [repoPassword, setRepoPassword] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  return (
    <form className="card" aria-labelledby="new-app"
      onSubmit={async (ev) => {
        ev.preventDefault();
        setError(undefined);
        let parsed: unknown;
        if (kind === "chart") {
          try {
            parsed = JSON.parse(values || "{}");
          } catch (e) {
            setError(`values: not JSON (${String(e)})`);
            return;
          }
        }
        setBusy(true);
        try {
          const a = await call(api.POST("/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps", {
            params: { path: { c, t, p } },
            body: {
              name, traits: [], policies: [],
              image: kind === "image" ? {
                image, tag: tag || null, replicas: replicas ? Number(replicas) : null,
                ports: port ? [{ port: Number(port), expose: true, name: "http" }] : [],
                env: [], configFiles: [], ingress: null, registry: null,
                resources: { cpu: cpu || null, memory: memory || null },
              } : null,
              helm: kind === "chart" ? {
                repo, chart, version, values: parsed, insecure: false,
                credentials: repoUser ? { username: repoUser, password: repoPassword } : null,
              } : null,
            },
          }));
          navigate(href.app(c, t, p, a.name));
        } catch (e) {
          setError(e);
        } finally {
          setBusy(false);
        }
      }}>
      <h2 id="new-app">Deploy an app</h2>
      <fieldset>
        <legend>From</legend>
        <label className="inline"><input type="radio" name="kind" checked={kind === "image"} onChange={() => { setKind("image"); setName("grafana"); }} /> a container image</label>
        <label className="inline"><input type="radio" name="kind" checked={kind === "chart"} onChange={() => { setKind("chart"); setName("wordpress"); }} /> a Helm chart</label>
      </fieldset>
      <label htmlFor="na-name">Name</label>
      <input id="na-name" required pattern={DNS_LABEL} title={DNS_LABEL_HINT} maxLength={40} value={name} onChange={(e) => setName(e.target.value)} />
      {kind === "image" ? (
        <>
          <label htmlFor="na-image">Image</label>
          <input id="na-image" required value={image} onChange={(e) => setImage(e.target.value)} />
          <label htmlFor="na-tag">Tag</label>
          <input id="na-tag" value={tag} onChange={(e) => setTag(e.target.value)} />
          <label htmlFor="na-port">Port</label>
          <input id="na-port" type="number" min={1} max={65535} value={port} onChange={(e) => setPort(e.target.value)} />
          <label htmlFor="na-replicas">Replicas</label>
          <input id="na-replicas" type="number" min={0} value={replicas} onChange={(e) => setReplicas(e.target.value)} />
          <label htmlFor="na-cpu">CPU request</label>
          <input id="na-cpu" value={cpu} onChange={(e) => setCpu(e.target.value)} aria-describedby="na-res-help" />
          <label htmlFor="na-memory">Memory request</label>
          <input id="na-memory" value={memory} onChange={(e) => setMemory(e.target.value)} aria-describedby="na-res-help" />
          <p id="na-res-help" className="muted">A tenant with a quota and no default limits needs both.</p>
        </>
      ) : (
        <>
          <label htmlFor="na-repo">Repository (https:// or oci://)</label>
          <input id="na-repo" required value={repo} onChange={(e) => setRepo(e.target.value)} />
          <label htmlFor="na-chart">Chart</label>
          <input id="na-chart" required value={chart} onChange={(e) => setChart(e.target.value)} />
          <label htmlFor="na-version">Version</label>
          <input id="na-version" required value={version} onChange={(e) => setVersion(e.target.value)} />
          <label htmlFor="na-repo-user">Repository user (if it asks for one)</label>
          <input id="na-repo-user" autoComplete="off" value={repoUser} onChange={(e) => setRepoUser(e.target.value)} />
          <label htmlFor="na-repo-password">Repository password</label>
          <input id="na-repo-password" type="password" autoComplete="off" value={repoPassword} onChange={(e) => setRepoPassword(e.target.value)}
            aria-describedby="na-repo-help" />
          <p id="na-repo-help" className="muted">Kept in a Secret in the project's namespace; never shown again.</p>
          <label htmlFor="na-values">Values (JSON)</label>
          <textarea id="na-values" rows={5} value={values} onChange={(e) => setValues(e.target.value)} spellCheck={false} />
        </>
      )}
      <button type="submit" disabled={busy}>{busy ? "Deploying…" : "Deploy"}</button>
      <ErrorBox error={error} />
    </form>
  );
}
