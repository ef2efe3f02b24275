// A small history router: every UI page lives under /ui/ so that no UI route can shadow an API,
// health or metrics path (control serves the shell for `/` and `/ui/...` only).
import { useEffect, useState } from "react";

export function navigate(to: string) {
  if (to !== location.pathname) history.pushState(null, "", to);
  window.dispatchEvent(new Event("kn:navigate"));
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const f = () => setPath(location.pathname);
    window.addEventListener("popstate", f);
    window.addEventListener("kn:navigate", f);
    return () => {
      window.removeEventListener("popstate", f);
      window.removeEventListener("kn:navigate", f);
    };
  }, []);
  return path;
}

export type Route =
  | { view: "home" }
  | { view: "clusters" }
  | { view: "tenants" }
  | { view: "tenant"; c: string; t: string }
  | { view: "project"; c: string; t: string; p: string }
  | { view: "app"; c: string; t: string; p: string; a: string }
  | { view: "tokens" }
  | { view: "audit" }
  | { view: "callback" }
  | { view: "notfound" };

export function parse(path: string): Route {
  const s = path.replace(/\/+$/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (s.length === 0 || (s.length === 1 && s[0] === "ui")) return { view: "home" };
  if (s[0] !== "ui") return { view: "notfound" };
  const r = s.slice(1);
  if (r.length === 1 && r[0] === "clusters") return { view: "clusters" };
  if (r.length === 1 && r[0] === "tenants") return { view: "tenants" };
  if (r.length === 1 && r[0] === "tokens") return { view: "tokens" };
  if (r.length === 1 && r[0] === "audit") return { view: "audit" };
  if (r.length === 1 && r[0] === "callback") return { view: "callback" };
  if (r[0] === "clusters" && r[2] === "tenants") {
    const [, c, , t, pk, p, ak, a] = r;
    if (r.length === 4 && c && t) return { view: "tenant", c, t };
    if (r.length === 6 && pk === "projects" && c && t && p) return { view: "project", c, t, p };
    if (r.length === 8 && pk === "projects" && ak === "apps" && c && t && p && a)
      return { view: "app", c, t, p, a };
  }
  return { view: "notfound" };
}

const e = encodeURIComponent;
export const href = {
  tenant: (c: string, t: string) => `/ui/clusters/${e(c)}/tenants/${e(t)}`,
  project: (c: string, t: string, p: string) => `/ui/clusters/${e(c)}/tenants/${e(t)}/projects/${e(p)}`,
  app: (c: string, t: string, p: string, a: string) =>
    `/ui/clusters/${e(c)}/tenants/${e(t)}/projects/${e(p)}/apps/${e(a)}`,
};
