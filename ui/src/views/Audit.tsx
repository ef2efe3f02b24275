import { useState } from "react";
import { api, call } from "../api";
import { ErrorBox, Loading, useLoad } from "../ui";

type Filters = { actor: string; tenant: string; outcome: "" | "success" | "failure"; since: string; limit: string };
const none: Filters = { actor: "", tenant: "", outcome: "", since: "", limit: "100" };

/** The audit log for admins: the recent events of every control replica (GET /api/v1/audit, ADR 0026). */
export function Audit() {
  const [draft, setDraft] = useState<Filters>(none);
  const [applied, setApplied] = useState<Filters>(none);
  const events = useLoad(() => {
    const query: { actor?: string; tenant?: string; outcome?: "success" | "failure"; since?: string; limit?: number } = {};
    if (applied.actor) query.actor = applied.actor;
    if (applied.tenant) query.tenant = applied.tenant;
    if (applied.outcome) query.outcome = applied.outcome;
    if (applied.since) query.since = new Date(applied.since).toISOString();
    if (applied.limit) query.limit = Number(applied.limit);
    return call(api.GET("/api/v1/audit", { params: { query } }));
  }, [applied]);
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => setDraft({ ...draft, [k]: e.target.value });
  const d = events.data;
  return (
    <section>
      <h1>Audit log</h1>
      <p className="muted">
        Who changed what, who was refused, and every token or kubeconfig issued or revoked: the latest events each control
        replica keeps, newest first. Never a token, a kubeconfig or a request body.
      </p>
      <form className="card filters" aria-labelledby="audit-filters"
        onSubmit={(ev) => { ev.preventDefault(); setApplied(draft); }}>
        <h2 id="audit-filters">Filter</h2>
        <div className="fields">
          <div>
            <label htmlFor="au-actor">Actor (subject)</label>
            <input id="au-actor" value={draft.actor} onChange={set("actor")} maxLength={256} />
          </div>
          <div>
            <label htmlFor="au-tenant">Tenant</label>
            <input id="au-tenant" value={draft.tenant} onChange={set("tenant")} maxLength={63} />
          </div>
          <div>
            <label htmlFor="au-outcome">Outcome</label>
            <select id="au-outcome" value={draft.outcome} onChange={set("outcome")}>
              <option value="">any</option>
              <option value="success">success</option>
              <option value="failure">failure (refused or failed)</option>
            </select>
          </div>
          <div>
            <label htmlFor="au-since">Since (your local time)</label>
            <input id="au-since" type="datetime-local" step={1} value={draft.since} onChange={set("since")} />
          </div>
          <div>
            <label htmlFor="au-limit">At most</label>
            <input id="au-limit" type="number" min={1} max={1000} value={draft.limit} onChange={set("limit")} />
          </div>
        </div>
        <div className="buttons">
          <button type="submit">Show</button>
          <button type="button" className="secondary" onClick={() => { setDraft(none); setApplied(none); }}>Clear</button>
          <button type="button" className="secondary" onClick={() => events.reload()}>Refresh</button>
        </div>
      </form>
      <ErrorBox error={events.error} />
      {events.loading && <Loading what="audit events" />}
      {d && (
        <>
          <p className="muted" data-testid="audit-sources">
            Read from {d.sources.length} replica{d.sources.length === 1 ? "" : "s"} ({d.sources.map((s) =>
              `${s.replica}: ${s.events} event${s.events === 1 ? "" : "s"}${s.oldest ? ` since ${new Date(s.oldest).toLocaleString()}` : ""}`).join("; ")});
            each keeps its latest {d.perReplica}. The complete log is where the control plane's <code>--audit-log</code> writes it.
          </p>
          <div className="scroll">
            <table data-testid="audit-table">
              <caption>Audit events{d.truncated ? " (more matched: narrow the filter or raise the limit)" : ""}</caption>
              <thead>
                <tr><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Result</th><th scope="col">Tenant</th><th scope="col">Replica</th></tr>
              </thead>
              <tbody>
                {d.items.map((e) => (
                  <tr key={`${e.replica}/${e.requestId}`}>
                    <td>{new Date(e.time).toLocaleString()}</td>
                    <td>{e.subject}<span className="muted">{` (${e.scope}${e.mintedBy ? `, minted by ${e.mintedBy}` : ""})`}</span></td>
                    <td>{e.action}{e.issuedTo ? <span className="muted">{` to ${e.issuedTo}`}</span> : null}</td>
                    <td><code>{e.target}</code></td>
                    <td><span className={`pill ${e.result < 400 ? "ok" : "bad"}`}>{e.result}</span></td>
                    <td>{e.tenant ?? "-"}</td>
                    <td>{e.replica}</td>
                  </tr>
                ))}
                {d.items.length === 0 && <tr><td colSpan={7}>No events match.</td></tr>}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
