// Signing in through an identity provider (issue 19, docs/ui.md): the authorization-code flow
// with PKCE in the browser, as a public client whose redirect URI is this UI's /ui/callback.
// The provider's ID token is exchanged at POST /api/v1/login/oidc for an API token, which then
// lives in memory like a pasted one (ADR 0022). Across the redirect, sessionStorage holds only
// what this one sign-in needs to finish (the PKCE verifier, state, nonce, where to send the code);
// it is removed when the provider answers. No token is ever stored.
import { api, call, KnError, type Schemas } from "./api";

export type Provider = Schemas["ProviderView"];

const KEY = "kubenova.oidc.pending";

type Pending = {
  verifier: string;
  state: string;
  nonce: string;
  clientId: string;
  tokenEndpoint: string;
  provider: string;
};

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const random = (n: number) => b64url(crypto.getRandomValues(new Uint8Array(n)));
const oidcError = (message: string, status = 0) => new KnError(status, "OIDC", message);

export const redirectUri = () => `${location.origin}/ui/callback`;

/** The provider's endpoints, from its discovery document. */
async function discover(issuer: string): Promise<{ authorization_endpoint: string; token_endpoint: string }> {
  let r: Response;
  try {
    r = await fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`);
  } catch (e) {
    throw oidcError(`the identity provider ${issuer} did not answer (${String(e)})`);
  }
  if (!r.ok) throw oidcError(`the identity provider's discovery document answered ${r.status}`, r.status);
  const d = await r.json();
  if (typeof d.authorization_endpoint !== "string" || typeof d.token_endpoint !== "string") {
    throw oidcError("the identity provider's discovery document names no authorization or token endpoint");
  }
  return d;
}

/** Sends the browser to the provider's sign-in page. */
export async function start(p: Provider): Promise<void> {
  const d = await discover(p.issuerUrl);
  const pending: Pending = {
    verifier: random(32),
    state: random(16),
    nonce: random(16),
    clientId: p.clientId,
    tokenEndpoint: d.token_endpoint,
    provider: p.name,
  };
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(pending.verifier));
  sessionStorage.setItem(KEY, JSON.stringify(pending));
  const url = new URL(d.authorization_endpoint);
  for (const [k, v] of Object.entries({
    response_type: "code",
    client_id: p.clientId,
    redirect_uri: redirectUri(),
    scope: (p.scopes?.length ? p.scopes : ["openid", "email", "groups"]).join(" "),
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: b64url(new Uint8Array(digest)),
    code_challenge_method: "S256",
  })) {
    url.searchParams.set(k, v);
  }
  location.assign(url.toString());
}

function claims(jwt: string): Record<string, unknown> {
  const part = jwt.split(".")[1] ?? "";
  try {
    return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    throw oidcError("the identity provider's ID token is not a JWT");
  }
}

let finishing: Promise<string> | null = null;

/**
 * On /ui/callback: checks the provider's answer against the sign-in in flight, redeems the code
 * (with the PKCE verifier) for an ID token, and exchanges that at KubeNova for an API token.
 */
export function finish(): Promise<string> {
  finishing ??= finishOnce();
  return finishing;
}

async function finishOnce(): Promise<string> {
  const params = new URLSearchParams(location.search);
  const raw = sessionStorage.getItem(KEY);
  sessionStorage.removeItem(KEY);
  history.replaceState(null, "", "/");
  const error = params.get("error");
  if (error) {
    const why = params.get("error_description");
    throw oidcError(`the identity provider refused the sign-in: ${error}${why ? ` (${why})` : ""}`);
  }
  if (!raw) throw oidcError("no sign-in was in progress in this tab; start it again");
  const pending = JSON.parse(raw) as Pending;
  if (params.get("state") !== pending.state) throw oidcError("the identity provider's answer does not belong to this sign-in; start it again");
  const code = params.get("code");
  if (!code) throw oidcError("the identity provider sent no authorization code");
  let r: Response;
  try {
    r = await fetch(pending.tokenEndpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: redirectUri(),
        client_id: pending.clientId,
        code_verifier: pending.verifier,
      }),
    });
  } catch (e) {
    throw oidcError(`the identity provider's token endpoint did not answer (${String(e)})`);
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok || typeof body.id_token !== "string") {
    throw oidcError(`the identity provider did not redeem the code: ${body.error ?? r.status}${body.error_description ? ` (${body.error_description})` : ""}`, r.status);
  }
  if (claims(body.id_token).nonce !== pending.nonce) throw oidcError("the ID token was not issued for this sign-in (nonce); start it again");
  const login = await call(api.POST("/api/v1/login/oidc", { body: { idToken: body.id_token as string, tenant: null, project: null, ttlSeconds: null } }), { signOutOn401: false });
  return login.token;
}
