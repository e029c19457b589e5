// The console's Conditional Access and Identity Protection blades in headless Debian Chromium
// (playwright-core): each renders without console errors (a CSP violation is one) and without
// serious or critical axe-core findings at 1280 px and 390 px (no sideways scrolling);
// screenshots go to input.shots. Then an administrator's journey: create a
// policy in report-only for a test user in the editor, replay it and find the sign-in it would
// have challenged, save it, switch it on, run What-If and see it apply, delete it.
// Input: {origin, tenant, admin: {upn, password}, target: {upn}, shots}.
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { input, done, fail } from "./common.mjs";
import { launchBrowser } from "./sample_app.mjs";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
mkdirSync(input.shots, { recursive: true });

const BLADES = [
  ["ca-overview-charts", "/admin"],
  ["ca-policies", "/admin/conditional-access"],
  ["ca-new-policy", "/admin/conditional-access/new"],
  ["ca-what-if", "/admin/conditional-access/what-if"],
  ["ca-named-locations", "/admin/conditional-access/named-locations"],
  ["identity-protection", "/admin/identity-protection"],
];

function watch(page, errors) {
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`${page.url()}: ${m.text()}`);
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

async function axe(page) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  if (!r.testEngine?.version || r.passes.length + r.violations.length === 0) throw new Error(`axe did not run on ${page.url()}`);
  return r.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
}

// Checks the page as it is now (after a POST, say) at both widths, without reloading.
async function checkHere(page, name, status, results) {
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    const violations = await axe(page);
    await page.screenshot({ path: `${input.shots}/${name}-${width}.png`, fullPage: true });
    results.push({ name, width, status, overflow, violations });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

async function check(page, name, path, results) {
  const r = await page.goto(`${input.origin}${path}`);
  await checkHere(page, name, r.status(), results);
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
  const charts = await page.goto(`${input.origin}/admin`).then(() => page.locator("svg[role=img]").count());

  // The journey, by labelled controls only.
  const stamp = Date.now().toString(36);
  const policyName = `Console journey ${stamp}`;
  await page.goto(`${input.origin}/admin/conditional-access/new`);
  await page.getByLabel("Policy name", { exact: true }).fill(policyName);
  await page.getByLabel("Include users", { exact: true }).fill(input.target.upn);
  const state = await page.getByLabel("State", { exact: true }).inputValue();
  // Replay the draft until the target's sign-in has reached the log.
  let challenged = "";
  for (let i = 0; i < 20 && !challenged.includes(input.target.upn); i++) {
    if (i > 0) await page.waitForTimeout(500);
    await page.click("#replay-draft");
    await page.waitForSelector("#would-challenge-table-cap");
    challenged = await page.textContent("#would-challenge-table-cap + thead + tbody");
  }
  await checkHere(page, "ca-replay", 200, blades);
  const signInHref = await page.locator("#would-challenge-table-cap + thead + tbody a", { hasText: "Sign-in details" }).first().getAttribute("href");
  // Save it (report-only), then switch it on.
  await page.click("#save-policy");
  await page.waitForSelector(".flash");
  const saved = await page.textContent(".flash");
  const policyUrl = page.url();
  await checkHere(page, "ca-edit-policy", 200, blades);
  await page.getByLabel("State", { exact: true }).selectOption("enabled");
  await page.click("#save-policy");
  await page.waitForSelector(".flash");
  const switched = await page.textContent(".flash");
  // What If: the policy applies to the target and asks for MFA.
  await page.goto(`${input.origin}/admin/conditional-access/what-if`);
  await page.getByLabel("User (user principal name or object id)").fill(input.target.upn);
  await page.click("#what-if button[type=submit]");
  await page.waitForSelector("#applies-table-cap");
  const applies = await page.textContent("#applies-table-cap + thead + tbody");
  await checkHere(page, "ca-what-if-result", 200, blades);
  // The sign-in the replay named opens in the sign-in blade.
  const detail = await page.goto(`${input.origin}${signInHref}`);
  const signInStatus = detail.status();
  const signInText = await page.textContent("main");
  // Clean up: delete with the confirmation.
  await page.goto(policyUrl);
  await page.getByLabel("Yes, delete this policy").check();
  await page.click("#delete-policy button[type=submit]");
  await page.waitForSelector(".flash");
  const deleted = await page.textContent(".flash");
  done({ blades, errors, charts, policyName, state, challenged, signInHref, saved, switched, applies, signInStatus, signInText, deleted });
} catch (e) {
  fail(e);
} finally {
  await browser?.close();
}
