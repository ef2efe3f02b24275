import { useEffect, useRef, useState } from "react";
import { api, call, canWriteApps, KnError } from "../api";
import type { Session } from "../App";
import { href, navigate } from "../router";
import { Action, Conditions, ErrorBox, Link, Loading, useLoad } from "../ui";

type Path = { c: string; t: string; p: string; a: string };

export function AppDetail({ session, c, t, p, a }: { session: Session } & Path) {
  const path = { c, t, p, a };
  const app = useLoad(() => call(api.GET("/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}", { params: { path } })), [c, t, p, a], 5000);
  const status = useLoad(() => call(api.GET("/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/status", { params: { path } })), [c, t, p, a], 3000);
  const revisions = useLoad(() => call(api.GET("/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/revisions", { params: { path } })), [c, t, p, a], 5000);
  const write = canWriteApps(session.roles);
  const s = status.data;
  const refresh = () => { app.reload(); status.reload(); revisions.reload(); };
  return (
    <section>
      <p className="crumbs">
        {session.project ? `Tenant ${t}` : <Link to={href.tenant(c, t)}>Tenant {t}</Link>} / <Link to={href.project(c, t, p)}>{p}</Link> / {a}
      </p>
      <h1>App {a}</h1>
      <ErrorBox error={status.error ?? app.error} />
      {status.loading && <Loading what="the app's status" />}
      {s && (
        <div className="grid">
          <article className="card" aria-labelledby="a-status">
            <h2 id="a-status">Status</h2>
            <p className="phase" aria-live="polite">
              Phase <strong data-testid="phase">{s.suspended ? "suspended" : (s.phase ?? "pending")}</strong>, revision{" "}
              <strong data-testid="revision">{s.revision ?? "-"}</strong>
            </p>
            {s.lastError && <p className="error" role="alert">{s.lastError}</p>}
            <div className="scroll">
              <table>
                <caption>Pods</caption>
                <thead><tr><th scope="col">Pod</th><th scope="col">Phase</th><th scope="col">Ready</th></tr></thead>
                <tbody data-testid="pods">
                  {s.pods.map((pod) => (
                    <tr key={pod.name}><td>{pod.name}</td><td>{pod.phase ?? "-"}</td><td>{pod.ready ? "yes" : "no"}</td></tr>
                  ))}
                  {s.pods.length === 0 && <tr><td colSpan={3}>No pods.</td></tr>}
                </tbody>
              </table>
            </div>
            <Conditions items={s.conditions} caption={`Conditions of app ${a}`} />
          </article>
          {write && (
            <article className="card" aria-labelledby="a-actions">
              <h2 id="a-actions">Actions</h2>
              <div className="buttons">
                {s.suspended ? (
                  <Action label="Resume" busyLabel="Resuming…" run={async () => { await call(api.POST("/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/resume", { params: { path } })); refresh(); }} />
                ) : (
                  <Action label="Suspend" busyLabel="Suspending…" run={async () => { await call(api.POST("/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/suspend", { params: { path } })); refresh(); }} />
                )}
                <Action label="Redeploy" busyLabel="Deploying…" run={async () => { await call(api.POST("/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/deploy", { params: { path } })); refresh(); }} />
                <Action label="Delete app" className="danger" busyLabel="Deleting…"
                  confirm={`Delete the app ${a} and everything made for it? This cannot be undone.`}
                  run={async () => { await call(api.DELETE("/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}", { params: { path } })); navigate(href.project(c, t, p)); }} />
              </div>
              {app.data?.spec.image && <ImageUpdate path={path} current={app.data.spec.image.tag} onDone={refresh} />}
            </article>
          )}
        </div>
      )}
      <article className="card" aria-labelledby="a-revisions">
        <h2 id="a-revisions">Revisions</h2>
        <ErrorBox error={revisions.error} />
        {revisions.data && (
          <ul className="links">
            {revisions.data.items.map((r) => (
              <li key={r.name}>
                {r.name} {r.current && <strong>(current)</strong>} <span className="muted">{r.created ? new Date(r.created).toLocaleString() : ""}</span>{" "}
                {write && !r.current && r.restorable && (
                  <Action label={`Roll back to ${r.name}`} busyLabel="Rolling back…" run={async () => {
                    await call(api.POST("/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/rollback", { params: { path }, body: { revision: r.name } }));
                    refresh();
                  }} />
                )}
              </li>
            ))}
            {revisions.data.items.length === 0 && <li>No revisions yet.</li>}
          </ul>
        )}
      </article>
      <Logs path={path} pods={s?.pods.length ?? 0} />
    </section>
  );
}

function ImageUpdate({ path, current, onDone }: { path: Path; current: string; onDone: () => void }) {
  const [tag, setTag] = useState(current);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  return (
    <form onSubmit={async (ev) => {
      ev.preventDefault();
      setBusy(true);
      setError(undefined);
      try {
        await call(api.POST("/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/image-update", { params: { path }, body: { tag, image: null } }));
        onDone();
      } catch (e) {
        setError(e);
      } finally {
        setBusy(false);
      }
    }}>
      <label htmlFor="iu-tag">Image tag</label>
      <div className="copy">
        <input id="iu-tag" required value={tag} onChange={(e) => setTag(e.target.value)} />
        <button type="submit" disabled={busy}>{busy ? "Updating…" : "Update image"}</button>
      </div>
      <ErrorBox error={error} />
    </form>
  );
}

/** The app's pod logs; "Follow" keeps the stream open and appends lines as they come. */
function Logs({ path, pods }: { path: Path; pods: number }) {
  const [follow, setFollow] = useState(false);
  const [text, setText] = useState("");
  const [error, setError] = useState<unknown>();
  const [n, setN] = useState(0);
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const ctl = new AbortController();
    setError(undefined);
    setText("");
    if (pods === 0) return () => ctl.abort();
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    (async () => {
      // Following: the stream is reopened when it ends or fails (pods come and go); the last
      // error stays shown until lines arrive again.
      for (let first = true; first || (follow && !ctl.signal.aborted); first = false) {
        if (!first) await sleep(3000);
        try {
          const r = await api.GET("/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/logs", {
            params: { path, query: { follow, tail: first ? 100 : 0 } }, parseAs: "stream", signal: ctl.signal,
          });
          if (!r.response.ok || !r.data) {
            await call(Promise.resolve({ error: r.error, response: r.response }));
            continue;
          }
          const reader = (r.data as ReadableStream<Uint8Array>).getReader();
          const decoder = new TextDecoder();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            const chunk = decoder.decode(value, { stream: true });
            setError(undefined);
            setText((x) => (x + chunk).slice(-200_000));
          }
        } catch (e) {
          if (ctl.signal.aborted) return;
          setError(e instanceof KnError ? e : new KnError(0, "NETWORK", String(e)));
        }
      }
    })();
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
    // Loaded again when pods appear or all go (an app that was just made has none yet).
  }, [follow, n, pods > 0, path.c, path.t, path.p, path.a]);
  useEffect(() => {
    if (pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text]);
  return (
    <article className="card" aria-labelledby="a-logs">
      <h2 id="a-logs">Logs</h2>
      <div className="buttons">
        <label className="inline"><input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow</label>
        <button type="button" onClick={() => setN((x) => x + 1)}>Reload logs</button>
      </div>
      <ErrorBox error={error} />
      <pre ref={pre} className="logs" data-testid="logs" tabIndex={0} aria-label="Pod logs">{text || (pods === 0 ? "No pods, so no logs." : "No log lines yet.")}</pre>
    </article>
  );
}
