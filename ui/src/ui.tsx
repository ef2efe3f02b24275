// Small shared pieces: links, errors in place, loading state, conditions, usage bars.
import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import { KnError } from "./api";
import { navigate } from "./router";

export function Link({ to, children, className }: { to: string; children: ReactNode; className?: string }) {
  return (
    <a
      href={to}
      className={className}
      onClick={(ev) => {
        if (ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return;
        ev.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

/** An error as the API said it: KN code and message, announced to screen readers. */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const text = error instanceof KnError ? error.text : String(error);
  return (
    <p className="error" role="alert" data-testid="error">
      {text}
    </p>
  );
}

export type Load<T> = { data?: T; error?: unknown; loading: boolean; reload: () => void };

/** Loads once and on reload(); with `every` (ms) it polls while the view is shown. */
export function useLoad<T>(f: () => Promise<T>, deps: unknown[], every?: number): Load<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [n, setN] = useState(0);
  const reload = useCallback(() => setN((x) => x + 1), []);
  const live = useRef(true);
  useEffect(() => {
    live.current = true;
    let timer: number | undefined;
    const run = () => {
      f().then(
        (data) => live.current && setState({ data, loading: false }),
        (error) => live.current && setState((s) => ({ data: s.data, error, loading: false })),
      ).finally(() => {
        if (every && live.current) timer = window.setTimeout(run, every);
      });
    };
    run();
    return () => {
      live.current = false;
      if (timer) clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, n]);
  return { ...state, reload };
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

type Condition = { type: string; status: string; reason: string; message: string; lastTransitionTime?: string | null };

export function Conditions({ items, caption }: { items: Condition[]; caption: string }) {
  if (items.length === 0) return <p className="muted">No conditions reported yet.</p>;
  return (
    <div className="scroll">
      <table>
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Condition</th>
            <th scope="col">Status</th>
            <th scope="col">Reason</th>
            <th scope="col">Message</th>
          </tr>
        </thead>
        <tbody>
          {items.map((c) => (
            <tr key={c.type}>
              <td>{c.type}</td>
              <td>
                <span className={`pill ${c.status === "True" ? "ok" : c.status === "False" ? "bad" : "warn"}`}>{c.status}</span>
              </td>
              <td>{c.reason}</td>
              <td>{c.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Kubernetes quantities to numbers, enough to draw a bar (binary and decimal suffixes, milli). */
export function quantity(q: string | undefined): number | undefined {
  if (q === undefined) return undefined;
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const mult: Record<string, number> = {
    "": 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15,
    Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5,
  };
  const f = mult[m[2] ?? ""];
  return f === undefined ? undefined : n * f;
}

/** Quota use: one labelled meter per resource the quota limits. */
export function UsageBars({ usage, label }: { usage?: { hard: Record<string, string>; used: Record<string, string> } | null; label: string }) {
  if (!usage || Object.keys(usage.hard).length === 0) return <p className="muted">No quota set.</p>;
  return (
    <ul className="usage" aria-label={label}>
      {Object.entries(usage.hard).map(([k, hard]) => {
        const used = usage.used[k] ?? "0";
        const h = quantity(hard) ?? 0;
        const u = quantity(used) ?? 0;
        const id = `u-${label}-${k}`.replace(/[^a-zA-Z0-9-]/g, "-");
        return (
          <li key={k}>
            <label htmlFor={id}>
              {k}: {used} of {hard}
            </label>
            <meter id={id} min={0} max={h || 1} value={Math.min(u, h || 1)} high={(h || 1) * 0.8} optimum={0} />
          </li>
        );
      })}
    </ul>
  );
}

/** A button that runs an async action, shows progress, and reports its error in place. */
export function Action({
  label, run, confirm, className, busyLabel,
}: {
  label: string;
  run: () => Promise<unknown>;
  confirm?: string;
  className?: string;
  busyLabel?: string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  return (
    <span className="action">
      <button
        type="button"
        className={className}
        disabled={busy}
        aria-busy={busy}
        onClick={async () => {
          if (confirm && !window.confirm(confirm)) return;
          setBusy(true);
          setError(undefined);
          try {
            await run();
          } catch (e) {
            setError(e);
          } finally {
            setBusy(false);
          }
        }}
      >
        {busy ? (busyLabel ?? `${label}…`) : label}
      </button>
      <ErrorBox error={error} />
    </span>
  );
}

/** A DNS label as the API checks it (written without escapes: browsers compile it with the v flag). */
export const DNS_LABEL = "[a-z0-9](([a-z0-9]|-)*[a-z0-9])?";
export const DNS_LABEL_HINT = "lower-case letters, digits and '-', starting and ending with a letter or digit";

export const list = (xs?: string[] | null) => (xs && xs.length ? xs.join(", ") : "none");
