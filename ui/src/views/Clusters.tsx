import { api, call } from "../api";
import { Conditions, ErrorBox, Loading, useLoad } from "../ui";

export function Clusters() {
  const clusters = useLoad(() => call(api.GET("/api/v1/clusters")), []);
  return (
    <section>
      <h1>Clusters</h1>
      <ErrorBox error={clusters.error} />
      {clusters.loading && <Loading what="clusters" />}
      {clusters.data?.items.map((c) => (
        <article key={c.name} className="card" aria-labelledby={`cl-${c.name}`}>
          <h2 id={`cl-${c.name}`}>{c.displayName ? `${c.displayName} (${c.name})` : c.name}</h2>
          <dl>
            <dt>Kubernetes</dt><dd>{c.kubernetesVersion ?? "unknown"}</dd>
            <dt>Proxy</dt><dd><code>{c.proxyUrl}</code></dd>
            <dt>Proxy namespace</dt><dd>{c.proxyNamespace}</dd>
          </dl>
          <Conditions items={c.conditions} caption={`Conditions of ${c.name}`} />
        </article>
      ))}
      {clusters.data && clusters.data.items.length === 0 && <p>No cluster is registered.</p>}
    </section>
  );
}
