// The console's dynamic group rule editor, Administrative units blade and custom roles in
// headless Debian Chromium (playwright-core): each page renders without console errors (a CSP
// violation is one) and without serious or critical axe-core findings at 1280 px and 390 px
// (no sideways scrolling); screenshots go to input.shots. The journey, without any script on
// the page: a bad rule comes back with its position, a good one previews, the dynamic group is
// created and its rule edit previews who joins and leaves; an administrative unit is created,
// the target added, a role assigned scoped to it; a custom role is refused for a bad action
// (input kept), created, then deleted. The rule editor's one script (/admin/assets/console.js)
// previews as you type; a context without JavaScript gets the same answer by the button.
// Input: {origin, tenant, admin: {upn, password}, target: {upn, department}, shots}.
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { input, done, fail } from "./common.mjs";
import { launchBrowser } from "./sample_app.mjs";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
mkdirSync(input.shots, { recursive: true });

const BLADES = [
  ["groups-dynamic", "/admin/groups"],
  ["dynamic-group-new", "/admin/dynamic-groups/new"],
  ["admin-units", "/admin/admin-units"],
  ["roles-custom", "/admin/roles"],
  ["custom-role-new", "/admin/custom-roles/new"],
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

// Submits by clicking `selector` and returns the answer's status.
let step = "";
let nojsPage = null;
async function submit(page, selector) {
  step = `${page === nojsPage ? "nojs " : ""}${selector}`;
  const [r] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  return r ? r.status() : 0;
}

// A form refused on purpose answers 400, which Chromium logs as a console error: that one
// entry (this page, that status) is expected, every other error still counts.
function expected400(page, errors, status) {
  if (status !== 400) return;
  const i = errors.findIndex((e) => e === `${page.url()}: Failed to load resource: the server responded with a status of 400 ()`);
  if (i >= 0) errors.splice(i, 1);
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
  // The one script on the editor is the binary's file, never inline.
  await page.goto(`${input.origin}/admin/dynamic-groups/new`);
  const scripts = await page.locator("script").evaluateAll((s) => s.map((x) => x.getAttribute("src") || "inline"));

  // As you type (the script): the error, then the preview, appear without a submit.
  await page.getByLabel("Rule", { exact: true }).fill('user.department -eq "x" -and user.shoeSize -eq "9"');
  await page.waitForSelector("#rule-error", { timeout: 10000 });
  const liveError = await page.textContent("#rule-error");
  const liveInvalid = await page.getByLabel("Rule", { exact: true }).getAttribute("aria-invalid");
  await page.getByLabel("Rule", { exact: true }).fill(`user.department -eq "${input.target.department}"`);
  await page.waitForSelector("#rule-preview", { timeout: 10000 });
  const livePreview = await page.textContent("#rule-preview + p");
  const liveUrl = page.url();
  await checkHere(page, "dynamic-rule-live", 200, blades);

  // Without JavaScript the editor works the same by its submit button.
  const nojs = await (await browser.newContext({ ignoreHTTPSErrors: true, javaScriptEnabled: false })).newPage();
  nojsPage = nojs;
  watch(nojs, errors);
  await signIn(nojs, input.admin);
  await nojs.goto(`${input.origin}/admin/dynamic-groups/new`);
  await nojs.getByLabel("Group name", { exact: true }).fill("Console no-script check");
  await nojs.getByLabel("Rule", { exact: true }).fill('user.department -eq "x" -and user.shoeSize -eq "9"');
  const nojsStatus = await submit(nojs, "#preview-rule");
  expected400(nojs, errors, nojsStatus);
  const nojsError = await nojs.textContent("#rule-error");
  await nojs.close();

  await page.goto(`${input.origin}/admin/dynamic-groups/new`);

  // Dynamic group: a bad rule, then a good one previewed, then saved.
  const stamp = Date.now().toString(36);
  const groupName = `Console dynamic ${stamp}`;
  await page.getByLabel("Group name", { exact: true }).fill(groupName);
  await page.getByLabel("Rule", { exact: true }).fill('user.department -eq "x" -and user.shoeSize -eq "9"');
  let status = await submit(page, "#preview-rule");
  expected400(page, errors, status);
  const badRule = await page.textContent("#rule-error");
  const keptRule = await page.getByLabel("Rule", { exact: true }).inputValue();
  await checkHere(page, "dynamic-rule-error", status, blades);
  const rule = `user.department -eq "${input.target.department}"`;
  await page.getByLabel("Rule", { exact: true }).fill(rule);
  await page.getByLabel("Test a user (user principal name or object ID, optional)").fill(input.target.upn);
  status = await submit(page, "#preview-rule");
  const preview = await page.textContent("#rule-preview + p");
  await checkHere(page, "dynamic-rule-preview", status, blades);
  await submit(page, "#save-rule");
  const created = await page.textContent(".flash");
  const groupUrl = page.url();
  await checkHere(page, "dynamic-group", 200, blades);
  await submit(page, "#edit-rule button[type=submit]");
  await page.getByLabel("Rule", { exact: true }).fill('user.department -eq "nobody-has-this"');
  status = await submit(page, "#preview-rule");
  const diff = await page.textContent("#rule-preview + p");
  const leavers = await page.textContent("#leavers-cap + thead + tbody");
  await checkHere(page, "dynamic-rule-diff", status, blades);

  // Administrative unit: create, add the target, assign User Administrator scoped to it.
  const unitName = `Console unit ${stamp}`;
  await page.goto(`${input.origin}/admin/admin-units`);
  await page.getByLabel("Name", { exact: true }).fill(unitName);
  await submit(page, "#create-unit button[type=submit]");
  const unitCreated = await page.textContent(".flash");
  const unitUrl = page.url();
  await page.getByLabel("User principal name or object ID (user or group)").fill(input.target.upn);
  await submit(page, "#add-unit-member button[type=submit]");
  const memberAdded = await page.textContent(".flash");
  await page.locator("#assign-scoped").getByLabel("User principal name or object ID").fill(input.target.upn);
  await submit(page, "#assign-scoped button[type=submit]");
  const roleAssigned = await page.textContent(".flash");
  const unitRoles = await page.textContent("#unit-roles-table-cap + thead + tbody");
  await checkHere(page, "admin-unit", 200, blades);

  // Custom role: a bad action (refused, input kept), then created and deleted.
  const roleName = `Console role ${stamp}`;
  await page.goto(`${input.origin}/admin/custom-roles/new`);
  await page.getByLabel("Name", { exact: true }).fill(roleName);
  await page.getByLabel("Allowed resource actions").fill("microsoft.directory/nonsense/doEverything");
  status = await submit(page, "#create-custom-role button[type=submit]");
  expected400(page, errors, status);
  const roleError = await page.textContent("#role-error + p");
  const keptName = await page.getByLabel("Name", { exact: true }).inputValue();
  await checkHere(page, "custom-role-error", status, blades);
  await page.getByLabel("Allowed resource actions").fill("microsoft.directory/users/basic/update\nmicrosoft.directory/groups/members/update");
  await submit(page, "#create-custom-role button[type=submit]");
  const roleCreated = await page.textContent(".flash");
  await checkHere(page, "custom-role", 200, blades);
  await submit(page, "#delete-custom-role button[type=submit]");
  const roleDeleted = await page.textContent(".flash");
  done({ blades, errors, scripts, liveError, liveInvalid, livePreview, liveUrl, nojsStatus, nojsError, groupName, badRule, keptRule, preview, created, groupUrl, diff, leavers,
         unitName, unitUrl, unitCreated, memberAdded, roleAssigned, unitRoles,
         roleName, roleError, keptName, roleCreated, roleDeleted });
} catch (e) {
  e.message = `at ${step}: ${e.message}`;
  fail(e);
} finally {
  await browser?.close();
}
