// The admin console in headless Debian Chromium (playwright-core): every blade renders without
// console errors (a CSP violation is one) and without serious or critical axe-core findings, at
// 1280 px and at 390 px without horizontal scrolling; screenshots go to input.shots. Then an
// administrator's journeys (sign in, create a user, create a group, add the user; register an
// app, add a redirect URI and Graph's User.Read, grant admin consent, see the grant on the
// enterprise application) and a User
// Administrator's (what the role may not do is refused on the page, with Graph's reason).
// Input: {origin, tenant, admin: {upn, password}, userAdmin: {upn, password}, shots}.
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { input, done, fail } from "./common.mjs";
import { launchBrowser } from "./sample_app.mjs";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
mkdirSync(input.shots, { recursive: true });

const BLADES = [
  ["overview", "/admin"],
  ["users", "/admin/users"],
  ["groups", "/admin/groups"],
  ["app-registrations", "/admin/app-registrations"],
  ["enterprise-apps", "/admin/enterprise-apps"],
  ["roles", "/admin/roles"],
  ["my-roles", "/admin/my-roles"],
  ["external-identities", "/admin/external-identities"],
  ["azure-resources", "/admin/azure"],
  ["conditional-access", "/admin/conditional-access"],
  ["sign-ins", "/admin/sign-ins"],
  ["audit", "/admin/audit"],
  ["troubleshooter", "/admin/troubleshoot"],
];

// `expected`: a status the page is meant to answer with (a refusal page), not an error.
function watch(page, errors, expected) {
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (expected && m.text().includes(`status of ${expected}`)) return;
    errors.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
}

async function signIn(page, who) {
  await page.goto(`${input.origin}/${input.tenant}/admin`);
  await page.waitForSelector("#username");
  await page.fill("#username", who.upn);
  await page.fill("#password", who.password);
  await page.click("#submit");
  await page.waitForURL(`${input.origin}/admin`, { timeout: 15000 });
}

// axe runs through the DevTools protocol (page.evaluate), which the page's CSP does not govern:
// the console itself never allows a script.
async function axe(page) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  // A positive control: axe really ran its rules on this page.
  if (!r.testEngine?.version || r.passes.length + r.violations.length === 0) throw new Error(`axe did not run on ${page.url()}`);
  return r.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
}

async function check(page, name, path, results) {
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    const r = await page.goto(`${input.origin}${path}`);
    const h1 = await page.textContent("h1");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    const violations = await axe(page);
    await page.screenshot({ path: `${input.shots}/${name}-${width}.png`, fullPage: true });
    results.push({ name, width, status: r.status(), h1, overflow, violations });
  }
}

// Submits a form that redirects back with a one-time message; returns the message.
async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
  return await page.textContent(".flash");
}

let browser;
try {
  const errors = [];
  let page;
  ({ browser, page } = await launchBrowser());
  watch(page, errors);
  await signIn(page, input.admin);
  const blades = [];
  for (const [name, path] of BLADES) await check(page, name, path, blades);

  // The administrator's journey, by keyboard-reachable, labelled controls only.
  await page.setViewportSize({ width: 1280, height: 900 });
  const stamp = Date.now().toString(36);
  const upn = `console${stamp}@${input.admin.upn.split("@")[1]}`;
  await page.goto(`${input.origin}/admin/users`);
  await page.getByLabel("Display name").fill(`Console ${stamp}`);
  await page.getByLabel("User principal name (alias@domain)").fill(upn);
  await page.getByLabel("Initial password").fill(`Console-${stamp}-Pw1!`);
  await page.click("#create-user button[type=submit]");
  await page.waitForSelector(".flash");
  const userCreated = await page.textContent(".flash");
  const userUrl = page.url();
  await page.goto(`${input.origin}/admin/groups`);
  await page.getByLabel("Group name").fill(`Console group ${stamp}`);
  await page.click("#create-group button[type=submit]");
  await page.waitForSelector(".flash");
  const groupCreated = await page.textContent(".flash");
  await page.getByLabel("User principal name or object ID").fill(upn);
  await page.click("#add-member button[type=submit]");
  await page.waitForSelector(".flash");
  const memberAdded = await page.textContent(".flash");
  const members = await page.textContent("#members-table-cap + thead + tbody");
  const groupPath = new URL(page.url()).pathname;
  await check(page, "user-detail", new URL(userUrl).pathname, blades);
  await check(page, "group-detail", groupPath, blades);

  // Register an app, add a redirect URI, add Graph's User.Read, grant admin consent, and see
  // the grant on its enterprise application.
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${input.origin}/admin/app-registrations`);
  await page.getByLabel("Name", { exact: true }).fill(`Console app ${stamp}`);
  const appRegistered = await submit(page, "#create-app button[type=submit]");
  const appPath = new URL(page.url()).pathname;
  await page.selectOption("#add-redirect-platform", "web");
  await page.fill("#add-redirect-uri", "https://console-journey.example/signin-oidc");
  const redirectAdded = await submit(page, "#add-redirect button[type=submit]");
  const redirects = await page.textContent("#redirects-cap + thead + tbody");
  await page.selectOption("#choose-api-api", "00000003-0000-0000-c000-000000000000");
  await Promise.all([page.waitForNavigation(), page.click("#choose-api button[type=submit]")]);
  await page.waitForSelector("#add-permission");
  await page.selectOption("#add-permission-permission", "Scope:e1fe6dd8-ba31-4d61-89e7-88639da4683d");
  const permissionAdded = await submit(page, "#add-permission button[type=submit]");
  const consented = await submit(page, "#grant-consent button[type=submit]");
  const requested = await page.textContent("#required-cap + thead + tbody");
  await check(page, "app-registration-detail", appPath, blades);
  const entHref = await page.getAttribute("#app-links-cap + thead + tbody a[href^='/admin/enterprise-apps/']", "href");
  await page.goto(`${input.origin}${entHref}`);
  const granted = await page.textContent("#grants-table-cap + thead + tbody");
  await check(page, "enterprise-app-detail", entHref, blades);
  await check(page, "role-detail-pim", "/admin/roles/fe930be7-5e62-47db-91af-98c3a49a38b1", blades);

  // The User Administrator: the console offers no role assignment (their roles do not cover
  // it) and a Global Administrator's password reset is refused on the page with Graph's reason.
  const ua = await browser.newContext({ ignoreHTTPSErrors: true });
  const uaPage = await ua.newPage();
  watch(uaPage, errors, 403);
  await signIn(uaPage, input.userAdmin);
  const uaRoles = await uaPage.textContent(".roles");
  await uaPage.goto(`${input.origin}/admin/roles/62e90394-69f5-4237-9190-012177145e10`);
  const assignOffered = (await uaPage.locator("#assign").count()) > 0;
  const roleNote = await uaPage.textContent("#assignments ~ .note");
  await uaPage.goto(`${input.origin}/admin/users/${input.admin.id}`);
  await uaPage.getByLabel("New password").fill(`Console-${stamp}-Other1!`);
  const resp = uaPage.waitForResponse((r) => r.url().endsWith("/password"));
  await uaPage.click("#reset-password button[type=submit]");
  const refusedStatus = (await resp).status();
  const refusal = await uaPage.textContent("[role=alert]");
  await uaPage.setViewportSize({ width: 1280, height: 900 });
  await uaPage.screenshot({ path: `${input.shots}/user-administrator-refused.png`, fullPage: true });
  done({ blades, errors, userCreated, groupCreated, memberAdded, members, upn, uaRoles, assignOffered, roleNote, refusedStatus, refusal,
    appRegistered, redirectAdded, redirects, permissionAdded, consented, requested, granted, appPath, entHref });
} catch (e) {
  fail(e);
} finally {
  await browser?.close();
}
