// The browser suite (docs/ui.md): the guide's story in headless Chromium against a real control
// plane (testenv), as an admin, a tenant owner and a project developer. Every main view is checked
// with axe-core (no serious or critical violation) and saved as a screenshot.
//
// Env: KUBENOVA_API_URL (control, serving the UI), KUBENOVA_ADMIN_TOKEN, KUBENOVA_CHART_REPO (the
// dev chart repository with the WordPress fixture), KUBECONFIG and kubectl on PATH (the platform's
// part of the chart app: a volume), KUBENOVA_DEX_ISSUER and KUBENOVA_DEX_USERS_FILE (Dex, the
// identity provider people sign in through, and its people's logins and passwords: make dev's file), UI_SHOTS (screenshot directory), CHROMIUM (default
// /usr/bin/chromium), UI_PREFIX (names made here start with it).
// server/tests/ui runs it with `cargo test -p kubenova-server --test ui`.
import { readFileSync, mkdirSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const BASE = need("KUBENOVA_API_URL").replace(/\/$/, "");
const ADMIN = need("KUBENOVA_ADMIN_TOKEN");
const SHOTS = process.env.UI_SHOTS ?? "target/ui-shots";
const PREFIX = process.env.UI_PREFIX ?? "ui";
const TENANT = `${PREFIX}-acme`;
const OTHER = `${PREFIX}-globex`;
const PROJECT = "web";
const BLOG = `${PREFIX}-blog`;
const CHART_REPO = process.env.KUBENOVA_CHART_REPO;
const DEX = need("KUBENOVA_DEX_ISSUER");
const DEX_ORIGIN = new URL(DEX).origin;
// make dev's file of Dex's people: `login<TAB>password<TAB>what their groups give` per line.
const DEX_PASSWORDS = new Map(
  readFileSync(need("KUBENOVA_DEX_USERS_FILE"), "utf8")
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split("\t").slice(0, 2)),
);
function dexPassword(login) {
  const password = DEX_PASSWORDS.get(login);
  if (!password) throw new Error(`no password for ${login} in KUBENOVA_DEX_USERS_FILE`);
  return password;
}
const WAIT = 180_000;
mkdirSync(SHOTS, { recursive: true });

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const started = Date.now();
function log(msg) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
}
function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

/** The REST API as a script (to set up what the story does not click through, and to check). */
async function rest(method, path, token, body) {
  const r = await fetch(`${BASE}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : undefined };
}

async function mint(roles, subject, tenant, project) {
  const r = await rest("POST", "/tokens", ADMIN, { roles, subject, tenant, project, ttlSeconds: 3600 });
  assert(r.status === 201, `minting a ${roles} token: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});

let current;
let currentProblems = [];

/** A fresh browser profile; fails the run on a CSP violation, a page error or a request elsewhere. */
async function session(name, viewport = { width: 1280, height: 900 }, { allow = [] } = {}) {
  // Requests to `allow` (the identity provider's origin) are expected; its certificate comes
  // from the environment's own CA, which this browser profile does not know.
  const context = await browser.newContext({ viewport, acceptDownloads: true, ignoreHTTPSErrors: allow.length > 0 });
  const page = await context.newPage();
  current = page;
  page.setDefaultTimeout(30_000);
  const problems = [];
  currentProblems = problems;
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource: the server responded with a status of 4")) problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    const u = r.url();
    if (!(u.startsWith(`${BASE}/`) || u.startsWith("data:") || u.startsWith("blob:") || allow.some((o) => u.startsWith(`${o}/`)))) problems.push(`third-party request: ${u}`);
  });
  page.on("dialog", (d) => d.accept());
  page.check = () => assert(problems.length === 0, `${name}: ${problems.join("; ")}`);
  return { context, page };
}

/** axe-core on the page as it is: no serious or critical violation; then a screenshot. */
async function audit(page, view, { errors = 0 } = {}) {
  const shown = await page.getByTestId("error").count();
  assert(shown === errors, `${view}: ${shown} error(s) shown, expected ${errors}: ${await page.getByTestId("error").allInnerTexts()}`);
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert(bad.length === 0, `${view}: accessibility violations ${JSON.stringify(bad)}`);
  await page.screenshot({ path: `${SHOTS}/${view}.png`, fullPage: true });
  log(`${view}: axe ok (${result.length} minor), screenshot ${SHOTS}/${view}.png`);
  page.check();
}

async function signIn(page, token) {
  await page.goto(`${BASE}/`);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

const text = (page, testid) => page.getByTestId(testid).innerText();
async function until(what, f, timeout = WAIT) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await f()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function story() {
  // --- The server: shell, headers, and the API's 404 -------------------------------------------
  {
    const shell = await fetch(`${BASE}/ui/tenants`);
    assert(shell.status === 200 && (await shell.text()).includes('<div id="root">'), "the shell under /ui/");
    const csp = shell.headers.get("content-security-policy") ?? "";
    assert(csp.includes("script-src 'self'") && !csp.includes("unsafe"), `strict CSP, got ${csp}`);
    assert(shell.headers.get("cache-control") === "no-cache", "index.html is no-cache");
    for (const path of ["/api/v1/not-a-thing", "/api/v1/ui/tenants", "/api/nope", "/assets/nope.js", "/index.html"]) {
      const r = await fetch(`${BASE}${path}`);
      const body = await r.json().catch(() => ({}));
      assert(r.status === 404 && body.code === "KN-404", `${path}: want the API's KN-404, got ${r.status} ${JSON.stringify(body)}`);
    }
    log("server: shell under /ui/, CSP, KN-404 elsewhere");
  }

  // Another tenant, made by the script: the tenant owner must not see it.
  {
    const r = await rest("POST", "/clusters/local/tenants", ADMIN, {
      name: OTHER, owners: ["carol"], quota: { cpu: "2", memory: "2Gi", pods: 10 }, limits: {},
      networkPolicy: { isolation: "tenant" }, podSecurity: "baseline",
    });
    assert(r.status === 201, `creating ${OTHER}: ${r.status} ${JSON.stringify(r.json)}`);
  }

  // --- Admin ---------------------------------------------------------------------------------
  {
    const { context, page } = await session("admin");
    await page.goto(`${BASE}/`);
    await audit(page, "01-sign-in");
    await page.getByLabel("API token").fill("not-a-token");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByTestId("error").filter({ hasText: "KN-401" }).waitFor();
    log("a bad token: KN-401 in place");

    await signIn(page, ADMIN);
    await page.getByRole("heading", { name: "Tenants", level: 1 }).waitFor();
    await page.getByRole("link", { name: OTHER }).waitFor();
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Clusters" }).click();
    await page.getByRole("heading", { name: "local" }).waitFor();
    await page.getByRole("cell", { name: "Reachable" }).waitFor();
    await audit(page, "02-clusters");

    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Tenants" }).click();
    await page.getByRole("heading", { name: "Tenants", level: 1 }).waitFor();
    await page.getByRole("option", { name: "local" }).waitFor({ state: "attached" });
    await page.getByLabel("Name").fill(TENANT);
    await page.getByLabel("Owners (comma separated)").fill("alice");
    await page.getByLabel("Ingress hosts (comma separated, optional)").fill(`*.${TENANT}.example.com`);
    await page.getByRole("button", { name: "Create tenant" }).click();
    await page.getByRole("heading", { name: `Tenant ${TENANT}` }).waitFor();
    assert((await text(page, "owners")) === "alice", "owners shown");
    await page.getByLabel(/^pods: /).waitFor();
    await audit(page, "03-tenant");

    // The same name again: the API's 409 with its code, in place.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Tenants" }).click();
    await page.getByRole("heading", { name: "Tenants", level: 1 }).waitFor();
    await page.getByRole("option", { name: "local" }).waitFor({ state: "attached" });
    await page.getByLabel("Name").fill(TENANT);
    await page.getByLabel("Owners (comma separated)").fill("alice");
    await page.getByRole("button", { name: "Create tenant" }).click();
    await page.getByTestId("error").filter({ hasText: "KN-409" }).waitFor();
    await audit(page, "04-tenants", { errors: 1 });
    log("a duplicate tenant: KN-409 in place");

    await page.getByRole("link", { name: TENANT }).click();
    await page.getByRole("heading", { name: `Tenant ${TENANT}` }).waitFor();
    await page.getByLabel("Name").fill(PROJECT);
    await page.getByLabel("Developers (comma separated)").fill("bob");
    await page.getByRole("button", { name: "Create project" }).click();
    await page.getByRole("heading", { name: `Project ${PROJECT}` }).waitFor();
    assert((await text(page, "developers")) === "bob", "developers shown");
    await until("the project ready", async () => (await rest("GET", `/clusters/local/tenants/${TENANT}/projects/${PROJECT}`, ADMIN)).json?.status?.ready === true);
    await page.getByRole("button", { name: "Issue kubeconfig" }).click();
    await page.getByTestId("kubeconfig-download").waitFor();
    const download = page.waitForEvent("download");
    await page.getByTestId("kubeconfig-download").click();
    const file = await (await download).path();
    assert(readFileSync(file, "utf8").includes("current-context"), "the downloaded kubeconfig");
    assert((await page.getByLabel("Then run").inputValue()).startsWith("kubectl --kubeconfig"), "the kubectl hint");
    await audit(page, "05-project-admin");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByTestId("notice").filter({ hasText: "signed out" }).waitFor();
    await context.close();
  }

  // --- Tenant owner ---------------------------------------------------------------------------
  const alice = await mint(["tenantOwner"], "alice", TENANT, null);
  {
    const { context, page } = await session("tenant owner");
    await signIn(page, alice.token);
    await page.getByRole("heading", { name: `Tenant ${TENANT}` }).waitFor();
    const nav = await page.getByRole("navigation", { name: "Main" }).innerText();
    assert(!nav.includes("Clusters") && !nav.includes("Tenants"), `no cluster settings or tenant list for an owner: ${nav}`);
    await page.getByRole("link", { name: PROJECT }).waitFor();
    await audit(page, "06-tenant-owner");
    // Another tenant's page: the server refuses, the page says so.
    await page.goto(`${BASE}/`); // a reload signs out (the token lives in memory) ...
    await signIn(page, alice.token);
    await page.evaluate((to) => { history.pushState(null, "", to); dispatchEvent(new Event("kn:navigate")); }, `/ui/clusters/local/tenants/${OTHER}`);
    await page.getByTestId("error").filter({ hasText: "KN-403" }).first().waitFor();
    assert(!(await page.content()).includes("carol"), "the other tenant's owners are not shown");
    await page.evaluate(() => { history.pushState(null, "", "/ui/clusters"); dispatchEvent(new Event("kn:navigate")); });
    await page.getByRole("heading", { name: "Not available" }).waitFor();
    assert((await rest("GET", "/clusters", alice.token)).status === 403, "the API refuses clusters to an owner");
    assert((await rest("GET", "/tenants", alice.token)).status === 403, "the API refuses the tenant list to an owner");
    log("tenant owner: own tenant only, no cluster settings");
    // A change only the platform may make: refused (the admin's audit view shows it below).
    const refused = await rest("PUT", `/clusters/local/tenants/${TENANT}/quotas`, alice.token, { cpu: "64" });
    assert(refused.status === 403, `an owner changing the quota: ${refused.status}`);

    // The revoke button: a token of erin's in this tenant, listed, revoked, gone.
    const erin = await mint(["readOnly"], "erin", TENANT, null);
    assert((await rest("GET", "/me", erin.token)).status === 200, "erin's token works before");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Tokens" }).click();
    const revoke = page.getByRole("button", { name: "Revoke erin's api" });
    await revoke.waitFor();
    await audit(page, "11-tokens-owner");
    await revoke.click(); // the confirmation is accepted
    await revoke.waitFor({ state: "detached" });
    const row = page.getByRole("row").filter({ hasText: "erin" });
    await row.getByRole("cell", { name: "revoked" }).waitFor();
    const after = await rest("GET", "/me", erin.token);
    assert(after.status === 401 && after.json?.code === "KN-401", `erin's revoked token: ${after.status} ${JSON.stringify(after.json)}`);
    assert((await rest("GET", "/tokens", alice.token)).json.items.some((r) => r.jti === erin.jti && r.revoked), "the record says revoked");
    await audit(page, "12-tokens-revoked");
    log("tenant owner: revoked erin's token from the Tokens page; the API refuses it");
    await context.close();
  }

  // --- Project developer ----------------------------------------------------------------------
  const bob = await mint(["projectDev"], "bob", TENANT, PROJECT);
  {
    const { context, page } = await session("project developer");
    await signIn(page, bob.token);
    await page.getByRole("heading", { name: `Project ${PROJECT}` }).waitFor();
    await page.getByRole("heading", { name: "Deploy an app" }).waitFor();
    assert(!(await page.getByRole("button", { name: "Create project" }).count()), "no project creation for a developer");
    await page.getByRole("button", { name: "Deploy" }).click();
    await page.getByRole("heading", { name: "App grafana" }).waitFor();
    await page.getByTestId("phase").filter({ hasText: /^running$/ }).waitFor({ timeout: WAIT });
    await page.getByTestId("pods").getByRole("cell", { name: /^grafana-/ }).first().waitFor({ timeout: WAIT });
    await page.getByText("grafana-v1").first().waitFor({ timeout: WAIT });
    await audit(page, "07-app-running");
    log("grafana running");

    await page.getByLabel("Follow").check();
    await until("log lines", async () => !(await text(page, "logs")).startsWith("No "), 60_000);
    log(`logs: ${(await text(page, "logs")).split("\n")[0]}`);

    await page.getByLabel("Image tag").fill("11.4.0");
    await page.getByRole("button", { name: "Update image" }).click();
    await page.getByTestId("revision").filter({ hasText: "grafana-v2" }).waitFor({ timeout: WAIT });
    await page.getByRole("button", { name: "Roll back to grafana-v1" }).click();
    await page.getByTestId("revision").filter({ hasText: "grafana-v3" }).waitFor({ timeout: WAIT });
    log("image update (v2) and rollback (v3)");

    await page.getByLabel("Follow").uncheck();
    await page.getByRole("button", { name: "Suspend" }).click();
    await page.getByTestId("phase").filter({ hasText: /^suspended$/ }).waitFor({ timeout: WAIT });
    await page.getByRole("button", { name: "Resume" }).waitFor();
    await audit(page, "08-app-suspended");
    await page.getByRole("button", { name: "Resume" }).click();
    await page.getByTestId("phase").filter({ hasText: /^running$/ }).waitFor({ timeout: WAIT });
    log("suspended and resumed");

    await page.getByRole("button", { name: "Delete app" }).click(); // the confirmation is accepted
    await page.getByRole("heading", { name: `Project ${PROJECT}` }).waitFor();
    await until("grafana gone", async () => (await rest("GET", `/clusters/local/tenants/${TENANT}/projects/${PROJECT}/apps/grafana`, bob.token)).status === 404);
    log("grafana deleted");

    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Tokens" }).click();
    await page.getByRole("cell", { name: "bob (this session)" }).waitFor();
    await audit(page, "09-tokens");
    await context.close();
  }

  // --- WordPress from the chart form, as the owner of a tenant without a quota -----------------
  // (The fixture chart's pods name no resource requests: a tenant with a quota would refuse them.)
  const blogHost = `blog.${BLOG}.example.com`;
  const blogNs = `${BLOG}-site`;
  {
    assert(CHART_REPO, "KUBENOVA_CHART_REPO is not set (make dev serves the WordPress chart there)");
    const t = await rest("POST", "/clusters/local/tenants", ADMIN, { name: BLOG, owners: ["dave"], ingressHosts: [`*.${BLOG}.example.com`] });
    assert(t.status === 201, `creating ${BLOG}: ${t.status} ${JSON.stringify(t.json)}`);
    const p = await rest("POST", `/clusters/local/tenants/${BLOG}/projects`, ADMIN, { name: "site", access: { developers: ["dave"], readers: ["rita"] } });
    assert(p.status === 201, `creating ${BLOG}/site: ${p.status} ${JSON.stringify(p.json)}`);
    await until("the blog project ready", async () => (await rest("GET", `/clusters/local/tenants/${BLOG}/projects/site`, ADMIN)).json?.status?.ready === true);
    // The platform's part: make dev has no volume provisioner, so a volume for the chart's claim.
    const pv = {
      apiVersion: "v1", kind: "PersistentVolume", metadata: { name: `${BLOG}-wordpress-data` },
      spec: {
        capacity: { storage: "1Gi" }, accessModes: ["ReadWriteOnce"], storageClassName: "standard",
        hostPath: { path: "/tmp/kubenova-ui-pv" }, claimRef: { namespace: blogNs, name: "wordpress-data" },
      },
    };
    execFileSync("kubectl", ["apply", "-f", "-"], { input: JSON.stringify(pv), stdio: ["pipe", "ignore", "inherit"] });

    const dave = await mint(["tenantOwner"], "dave", BLOG, null);
    const { context, page } = await session("chart app");
    await signIn(page, dave.token);
    await page.getByRole("heading", { name: `Tenant ${BLOG}` }).waitFor();
    await page.getByRole("link", { name: "site" }).click();
    await page.getByRole("heading", { name: "Project site" }).waitFor();
    await page.getByLabel("a Helm chart").check();
    assert((await page.getByLabel("Name").inputValue()) === "wordpress", "the chart form is WordPress by default");
    await page.getByLabel("Repository (https:// or oci://)").fill(CHART_REPO);
    await page.getByLabel("Version").fill("0.1.0");
    await page.getByLabel("Repository user (if it asks for one)").fill("reader");
    await page.getByLabel("Repository password").fill("change-me");
    // Values that are not JSON: said in place, nothing sent.
    await page.getByLabel("Values (JSON)").fill("{ hostname: ");
    await page.getByRole("button", { name: "Deploy" }).click();
    await page.getByTestId("error").filter({ hasText: "values: not JSON" }).waitFor();
    await page.getByLabel("Values (JSON)").fill(JSON.stringify({
      hostname: blogHost, storageClass: "standard", database: { password: "s3cret-from-the-form" },
    }, null, 2));
    await audit(page, "13-chart-form", { errors: 1 });
    await page.getByRole("button", { name: "Deploy" }).click();
    await page.getByRole("heading", { name: "App wordpress" }).waitFor();
    await page.getByTestId("phase").filter({ hasText: /^running$/ }).waitFor({ timeout: WAIT });
    await page.getByTestId("pods").getByRole("cell", { name: /^wordpress-wordpress-/ }).first().waitFor({ timeout: WAIT });
    await page.getByTestId("pods").getByRole("cell", { name: /^wordpress-mariadb-/ }).first().waitFor({ timeout: WAIT });
    const app = (await rest("GET", `/clusters/local/tenants/${BLOG}/projects/site/apps/wordpress`, dave.token)).json;
    assert(app.spec.helm.repo === CHART_REPO && app.spec.helm.values.hostname === blogHost, `the app as sent: ${JSON.stringify(app.spec.helm)}`);
    assert(!JSON.stringify(app).includes("change-me"), "the repository password is never returned");
    await audit(page, "14-app-wordpress");
    log("wordpress from the chart form: running, its WordPress and MariaDB pods shown");
    await context.close();
  }

  // --- Read-only: what a reader may see, and nothing to change ---------------------------------
  {
    const rita = await mint(["readOnly"], "rita", BLOG, null);
    const { context, page } = await session("read-only");
    await signIn(page, rita.token);
    await page.getByRole("heading", { name: `Tenant ${BLOG}` }).waitFor();
    await page.getByText("Ingress hosts", { exact: true }).waitFor();
    const none = async (what, locator) => assert((await locator.count()) === 0, `read-only: ${what} is offered`);
    await none("project creation", page.getByRole("button", { name: "Create project" }));
    await none("a tenant kubeconfig", page.getByRole("button", { name: "Issue kubeconfig" }));
    await audit(page, "15-tenant-read-only");
    await page.getByRole("link", { name: "site" }).click();
    await page.getByRole("heading", { name: "Project site" }).waitFor();
    await page.getByRole("link", { name: "wordpress" }).waitFor();
    await none("deploying", page.getByRole("heading", { name: "Deploy an app" }));
    await audit(page, "16-project-read-only");
    await page.getByRole("link", { name: "wordpress" }).click();
    await page.getByRole("heading", { name: "App wordpress" }).waitFor();
    await page.getByTestId("phase").filter({ hasText: /^running$/ }).waitFor();
    for (const name of ["Suspend", "Delete app", "Redeploy", "Update image"]) await none(name, page.getByRole("button", { name }));
    await none("rollback", page.getByRole("button", { name: /^Roll back/ }));
    await page.getByLabel("Follow").waitFor();
    await audit(page, "17-app-read-only");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Tokens" }).click();
    await page.getByRole("cell", { name: "rita (this session)" }).waitFor();
    await none("revoking", page.getByRole("button", { name: /^Revoke/ }));
    await audit(page, "18-tokens-read-only");
    // The server decides: the same changes through the API are refused.
    const sus = await rest("POST", `/clusters/local/tenants/${BLOG}/projects/site/apps/wordpress/suspend`, rita.token);
    assert(sus.status === 403, `a reader suspending: ${sus.status}`);
    await page.evaluate(() => { history.pushState(null, "", "/ui/audit"); dispatchEvent(new Event("kn:navigate")); });
    await page.getByRole("heading", { name: "Not available" }).waitFor();
    assert(!(await page.getByRole("navigation", { name: "Main" }).innerText()).includes("Audit"), "no audit link for a reader");
    log("read-only: tenant, project, app and tokens without a control to change them");
    await context.close();
  }

  // --- The admin's audit view -----------------------------------------------------------------
  {
    const { context, page } = await session("audit");
    await signIn(page, ADMIN);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit" }).click();
    await page.getByRole("heading", { name: "Audit log", level: 1 }).waitFor();
    await page.getByTestId("audit-table").waitFor();
    assert((await text(page, "audit-sources")).includes("keeps its latest"), "what the view shows is said");
    await page.getByLabel("Tenant").fill(TENANT);
    await page.getByLabel("Outcome").selectOption("failure");
    await page.getByRole("button", { name: "Show" }).click();
    await until("the filtered list: alice's refused quota change only", async () => {
      const t = await text(page, "audit-table");
      return t.includes("tenants.quotas") && t.includes("403") && t.includes("alice") && !t.includes("tenants.create") && !t.includes("tokens.revoke");
    }, 30_000);
    await audit(page, "19-audit");
    await page.getByLabel("Tenant").fill("");
    await page.getByLabel("Outcome").selectOption("");
    await page.getByLabel("Actor (subject)").fill("alice");
    await page.getByRole("button", { name: "Show" }).click();
    await until("alice's events: the revocation, and no one else's", async () => {
      const t = await text(page, "audit-table");
      return t.includes("tokens.revoke") && !t.includes("tenants.create");
    }, 30_000);
    const shown = await text(page, "audit-table");
    assert(!shown.includes(ADMIN) && !shown.includes("change-me"), "no token or secret in the audit view");
    // A bad filter: the API's code and message in place.
    await page.getByLabel("At most").fill("5000");
    await page.getByLabel("At most").evaluate((el) => el.closest("form").noValidate = true);
    await page.getByRole("button", { name: "Show" }).click();
    await page.getByTestId("error").filter({ hasText: "KN-422" }).waitFor();
    log("admin: the audit view shows the owner's refused quota change and the revocation");
    await context.close();
  }

  // --- Signing in through the identity provider (Dex's real login form) ---------------------------
  {
    const shell = await fetch(`${BASE}/`);
    const csp = shell.headers.get("content-security-policy") ?? "";
    assert(csp.includes(`connect-src 'self' ${DEX_ORIGIN};`), `connect-src names the provider's origin and nothing else: ${csp}`);
    const viaDex = async (page, user) => {
      await page.goto(`${BASE}/`);
      await page.getByRole("button", { name: "Sign in with dex" }).click();
      await page.waitForURL((u) => u.origin === DEX_ORIGIN);
      await page.locator('input[name="login"]').fill(`${user}@example.test`);
      await page.locator('input[name="password"]').fill(dexPassword(`${user}@example.test`));
      await page.locator('button[type="submit"]').click();
      await page.waitForURL((u) => u.origin === new URL(BASE).origin);
    };
    {
      const { context, page } = await session("oidc admin", undefined, { allow: [DEX_ORIGIN] });
      await page.goto(`${BASE}/`);
      await page.getByRole("heading", { name: "With your identity provider" }).waitFor();
      await audit(page, "20-sign-in-providers");
      await viaDex(page, "alice");
      await page.getByRole("button", { name: "Sign out" }).waitFor();
      await page.getByRole("heading", { name: "Tenants", level: 1 }).waitFor();
      assert(/^alice\S* \(admin\)/.test(await text(page, "who")), `signed in as ${await text(page, "who")}`);
      assert(new URL(page.url()).search === "", "the code is gone from the address bar");
      assert(await page.evaluate(() => sessionStorage.length === 0 && localStorage.length === 0), "nothing left in the browser's storage");
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit" }).click();
      await page.getByTestId("audit-table").waitFor();
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Clusters" }).click();
      await page.getByRole("cell", { name: "Reachable" }).waitFor();
      await audit(page, "21-signed-in-via-dex");
      log("alice signed in through Dex's login form: admin views");
      await context.close();
    }
    {
      const { context, page } = await session("oidc refused", undefined, { allow: [DEX_ORIGIN] });
      await viaDex(page, "carol");
      const refused = page.getByTestId("error").filter({ hasText: "KN-403" });
      await refused.waitFor();
      const message = await refused.innerText();
      assert(message.includes("kubenova-platform"), `the refusal names the group carol is missing: ${message}`);
      assert(!(await page.getByRole("button", { name: "Sign out" }).count()), "carol is not signed in");
      await audit(page, "22-sign-in-refused", { errors: 1 });
      log(`carol (in no mapped group): ${message}`);
      await context.close();
    }
  }

  // --- A phone, and a session that ends under the user -----------------------------------------
  {
    const short = await mint(["projectDev"], "bob", TENANT, PROJECT);
    const { context, page } = await session("phone", { width: 390, height: 844 });
    await signIn(page, short.token);
    await page.getByRole("heading", { name: `Project ${PROJECT}` }).waitFor();
    await audit(page, "10-project-phone");
    const r = await rest("DELETE", `/tokens/${short.jti}`, ADMIN);
    assert(r.status === 200, `revoking: ${r.status}`);
    await page.getByTestId("notice").filter({ hasText: "KN-401" }).waitFor({ timeout: 30_000 });
    await page.getByLabel("API token").waitFor();
    log("a revoked token: back to sign-in with the KN-401 message");
    await context.close();
  }

  // Clean up what the story made (the environment may be shared with other suites).
  {
    await rest("DELETE", `/clusters/local/tenants/${TENANT}/projects/${PROJECT}`, ADMIN);
    await until("the project gone", async () => (await rest("GET", `/clusters/local/tenants/${TENANT}/projects/${PROJECT}`, ADMIN)).status === 404);
    await rest("DELETE", `/clusters/local/tenants/${BLOG}/projects/site`, ADMIN);
    await until("the blog project gone", async () => (await rest("GET", `/clusters/local/tenants/${BLOG}/projects/site`, ADMIN)).status === 404);
    execFileSync("kubectl", ["delete", "pv", `${BLOG}-wordpress-data`, "--ignore-not-found", "--wait=false"], { stdio: ["ignore", "ignore", "inherit"] });
    for (const t of [TENANT, OTHER, BLOG]) {
      const r = await rest("DELETE", `/clusters/local/tenants/${t}`, ADMIN);
      assert(r.status === 202, `deleting ${t}: ${r.status} ${JSON.stringify(r.json)}`);
    }
  }
}

try {
  await story();
  log("ok");
} catch (e) {
  console.error(e);
  if (current && !current.isClosed()) {
    await current.screenshot({ path: `${SHOTS}/failure.png`, fullPage: true }).catch(() => {});
    console.error(`the page at ${current.url()} (screenshot ${SHOTS}/failure.png):\n${await current.innerText("body").catch(() => "")}`);
  }
  if (currentProblems.length) console.error(`in the browser: ${currentProblems.join("\n")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
