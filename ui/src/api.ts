// The one way the UI talks to KubeNova: openapi-fetch over the types openapi-typescript generates
// from docs/openapi/openapi.yaml at build time (src/generated/, not committed). No request shape
// is written by hand; a change to the API that breaks the UI fails `tsc` in the build.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "../generated/api";

export type Schemas = components["schemas"];
export type Role = Schemas["Role"];
export type Me = Schemas["Me"];

/** An answer the API refused: the KN envelope, shown in place where it happened. */
export class KnError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
  }
  get text(): string {
    return `${this.code}: ${this.message}`;
  }
}

let token: string | null = null;
let onUnauthorized: (e: KnError) => void = () => {};

/** The signed-in token lives only here, in memory (ADR 0022): a reload signs out. */
export function setToken(t: string | null) {
  token = t;
}
export function setUnauthorizedHandler(f: (e: KnError) => void) {
  onUnauthorized = f;
}

const auth: Middleware = {
  onRequest({ request }) {
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: "" });
api.use(auth);

function asError(status: number, body: unknown): KnError {
  const env = body as Partial<Schemas["Envelope"]> | undefined;
  if (env && typeof env.code === "string" && typeof env.message === "string") {
    return new KnError(status, env.code, env.message, env.requestId);
  }
  return new KnError(status, `HTTP ${status}`, "the server answered without a KubeNova error");
}

/**
 * Unwraps an openapi-fetch result: the data, or a thrown KnError. A 401 (expired or revoked
 * token) also sends the user back to sign-in with the server's message.
 */
export async function call<T>(
  p: Promise<{ data?: T; error?: unknown; response: Response }>,
  opts: { signOutOn401?: boolean } = {},
): Promise<T> {
  let r;
  try {
    r = await p;
  } catch (e) {
    throw new KnError(0, "NETWORK", `the API did not answer (${String(e)})`);
  }
  if (r.error !== undefined || !r.response.ok) {
    const e = asError(r.response.status, r.error);
    if (r.response.status === 401 && opts.signOutOn401 !== false) onUnauthorized(e);
    throw e;
  }
  return r.data as T;
}

export const isPlatform = (roles: Role[]) => roles.includes("admin") || roles.includes("ops");
export const canOwn = (roles: Role[]) => isPlatform(roles) || roles.includes("tenantOwner");
/** Who may read a tenant's and a project's settings and usage (a projectDev may not). */
export const canReadSettings = (roles: Role[]) => canOwn(roles) || roles.includes("readOnly");
export const canWriteApps = (roles: Role[]) => canOwn(roles) || roles.includes("projectDev");
