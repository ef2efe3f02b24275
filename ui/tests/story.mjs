// The browser suite (docs/ui.md): the guide's story in headless Chromium against a real control
// plane (testenv), as an admin, a tenant owner and a project developer. Every main view is checked
// with axe-core (no serious or critical violation) and saved as a screenshot.
//
// Env: KUBENOVA_API_URL (control, serving the UI), KUBENOVA_ADMIN_TOKEN, UI_SHOTS (screenshot
// directory), CHROMIUM (default /usr/bin/chromium), UI_PREFIX (names made here start with it).
// server/tests/ui runs it with `cargo test -p kubenova-server --test ui`.
import { readFileSync, mkdirSync } from "node:fs";
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
async function session(name, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
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
    if (!(u.startsWith(`${BASE}/`) || u.startsWith("data:") || u.startsWith("blob:"))) problems.push(`third-party request: ${u}`);
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
  await page.getByRole("button", { name: "Sign in" }).click();
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
    await page.getByRole("button", { name: "Sign in" }).click();
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
    for (const t of [TENANT, OTHER]) {
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
