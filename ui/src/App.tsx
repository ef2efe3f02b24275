import { useCallback, useEffect, useState } from "react";
import { api, call, isPlatform, KnError, setToken, setUnauthorizedHandler, type Me } from "./api";
import { href, navigate, parse, usePath } from "./router";
import { ErrorBox, Link, Loading } from "./ui";
import { finish } from "./oidc";
import { SignIn } from "./views/SignIn";
import { Clusters } from "./views/Clusters";
import { Tenants } from "./views/Tenants";
import { Tenant } from "./views/Tenant";
import { Project } from "./views/Project";
import { AppDetail } from "./views/AppDetail";
import { Tokens } from "./views/Tokens";
import { Audit } from "./views/Audit";

export type Session = Me;

/** Where a token's scope starts: its tenant or project page, or the tenant list. */
async function home(s: Session): Promise<string> {
  if (isPlatform(s.roles)) return "/ui/tenants";
  if (s.tenant && s.cluster) return s.project ? href.project(s.cluster, s.tenant, s.project) : href.tenant(s.cluster, s.tenant);
  return "/ui/tokens";
}

export function App() {
  const path = usePath();
  const [session, setSession] = useState<Session | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [signInError, setSignInError] = useState<unknown>();

  const signOut = useCallback((message: string | null) => {
    setToken(null);
    setSession(null);
    setNotice(message);
    navigate("/");
  }, []);

  useEffect(() => {
    setUnauthorizedHandler((e: KnError) => signOut(`You were signed out: ${e.text}. Sign in with a valid token.`));
  }, [signOut]);

  const signIn = async (token: string) => {
    setToken(token);
    try {
      const me = await call(api.GET("/api/v1/me"), { signOutOn401: false });
      const s: Session = me;
      setNotice(null);
      setSignInError(undefined);
      setSession(s);
      if (parse(location.pathname).view === "home") navigate(await home(s));
    } catch (e) {
      setToken(null);
      throw e;
    }
  };

  const route = parse(path);
  // Back from the identity provider: finish its sign-in, or say in place why it failed.
  const [finishing, setFinishing] = useState(route.view === "callback");
  useEffect(() => {
    if (route.view !== "callback" || session) return;
    setFinishing(true);
    finish()
      .then((token) => signIn(token))
      .catch((e: unknown) => {
        setSignInError(e);
        navigate("/");
      })
      .finally(() => setFinishing(false));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [route.view]);
  useEffect(() => {
    if (session && route.view === "home") void home(session).then(navigate);
  }, [session, route.view]);

  useEffect(() => {
    const titles: Record<string, string> = {
      home: "Sign in", clusters: "Clusters", tenants: "Tenants", tenant: "Tenant", project: "Project",
      app: "App", tokens: "Tokens", audit: "Audit log", callback: "Signing in", notfound: "Not found",
    };
    document.title = `${session ? titles[route.view] : "Sign in"} · KubeNova`;
  }, [route.view, session]);

  if (!session) {
    return (
      <>
        <header className="top">
          <span className="brand">KubeNova</span>
        </header>
        <main id="main">
          {finishing ? <Loading what="your sign-in from the identity provider" /> : <SignIn onSignIn={signIn} notice={notice} error={signInError} />}
        </main>
      </>
    );
  }

  const platform = isPlatform(session.roles);
  const admin = session.roles.includes("admin");
  const scopeHome = session.tenant && session.cluster
    ? session.project ? href.project(session.cluster, session.tenant, session.project) : href.tenant(session.cluster, session.tenant)
    : null;
  let view;
  switch (route.view) {
    case "home":
      view = <Loading what="your start page" />;
      break;
    case "clusters":
      view = platform ? <Clusters /> : <NotAllowed />;
      break;
    case "tenants":
      view = platform ? <Tenants session={session} /> : <NotAllowed />;
      break;
    case "tenant":
      view = <Tenant key={`${route.c}/${route.t}`} session={session} c={route.c} t={route.t} />;
      break;
    case "project":
      view = <Project key={`${route.c}/${route.t}/${route.p}`} session={session} c={route.c} t={route.t} p={route.p} />;
      break;
    case "app":
      view = <AppDetail key={`${route.c}/${route.t}/${route.p}/${route.a}`} session={session} c={route.c} t={route.t} p={route.p} a={route.a} />;
      break;
    case "tokens":
      view = <Tokens session={session} />;
      break;
    case "audit":
      view = admin ? <Audit /> : <NotAllowed />;
      break;
    default:
      view = (
        <section>
          <h1>Not found</h1>
          <p>This page does not exist.</p>
        </section>
      );
  }
  return (
    <>
      <a className="skip" href="#main">Skip to content</a>
      <header className="top">
        <span className="brand">KubeNova</span>
        <nav aria-label="Main">
          <ul>
            {platform && <li><Link to="/ui/clusters">Clusters</Link></li>}
            {platform && <li><Link to="/ui/tenants">Tenants</Link></li>}
            {scopeHome && <li><Link to={scopeHome}>{session.project ? `Project ${session.project}` : `Tenant ${session.tenant}`}</Link></li>}
            <li><Link to="/ui/tokens">Tokens</Link></li>
            {admin && <li><Link to="/ui/audit">Audit</Link></li>}
          </ul>
        </nav>
        <div className="who">
          <span data-testid="who">
            {session.subject} ({session.roles.join(", ")}{session.tenant ? ` in ${session.tenant}${session.project ? `/${session.project}` : ""}` : ""})
          </span>
          <button type="button" onClick={() => signOut("You signed out.")}>Sign out</button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>{view}</main>
    </>
  );
}

function NotAllowed() {
  return (
    <section>
      <h1>Not available</h1>
      <ErrorBox error={new KnError(403, "KN-403", "your role does not include this page")} />
    </section>
  );
}
