// Cross-tenant access in headless Chromium, one step per run; the browser's cookies are kept
// between runs in input.state (Playwright's storage state), so the home tenant's session —
// and the MFA it remembers — carries over, as a real browser's would.
// - action "redeem": open the invitation link, sign in at the home tenant (whose security
//   defaults ask its administrator to register an authenticator app first: the test computes
//   RFC 6238 codes from the key the setup page shows), pass the home MFA, accept the resource
//   tenant's consent page, land on the inviteRedirectUrl.
// - action "signin": open the app's authorize URL at the resource tenant, type the guest's
//   address (home-realm discovery sends the browser home; the home session answers), and
//   report where the browser ends: the app's redirect URI (captured, not loaded) or a page
//   of the resource tenant (its own MFA, or a refusal).
import { createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import { input, done, fail } from "./common.mjs";

function base32(s) {
  const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of s.replace(/=+$/, "").toUpperCase()) bits += abc.indexOf(c).toString(2).padStart(5, "0");
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}
function totp(secret, at = Date.now() / 1000) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30)));
  const h = createHmac("sha1", base32(secret)).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1_000_000).padStart(6, "0");
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    ...(existsSync(input.state) ? { storageState: input.state } : {}),
  });
  const page = await context.newPage();
  const out = {};
  if (input.action === "redeem") {
    // The home sign-in answers with whatever it needs next: the password page, the
    // registration of an authenticator app (security defaults), the MFA challenge; then the
    // resource tenant's consent page, or a refusal.
    await page.goto(input.url);
    await page.click("#home button");
    let secret = input.secret ?? null;
    let step = 0;
    for (let i = 0; i < 20; i++) {
      await page.waitForSelector("#username, #mfa-setup, #secret, #recovery-codes, #otc, #accept button, .message.error", { timeout: 15000 });
      if ((await page.locator("#accept button").count()) > 0) {
        out.consent = await page.textContent("body");
        await page.click("#accept button");
        await page.waitForURL((u) => u.toString().startsWith(input.redirect), { timeout: 15000 });
        out.landed = page.url();
        break;
      } else if ((await page.locator("#username").count()) > 0) {
        out.homeLogin = page.url();
        await page.fill("#username", input.upn);
        await page.fill("#password", input.password);
        await page.click("#submit");
      } else if ((await page.locator("#mfa-setup").count()) > 0) {
        out.homeRegister = true;
        await page.click("#mfa-setup");
      } else if ((await page.locator("#secret").count()) > 0) {
        secret = (await page.textContent("#secret")).replace(/\s+/g, "");
        await page.fill("#code", totp(secret));
        await page.click("#submit");
        step = 1;
      } else if ((await page.locator("#recovery-codes").count()) > 0) {
        // Registered: the link again (the home session has the password).
        await page.goto(input.url);
        await page.click("#home button");
      } else if ((await page.locator("#otc").count()) > 0) {
        out.homeChallenge = true;
        await page.fill("#otc", totp(secret, Date.now() / 1000 + 30 * step));
        step += 1;
        await page.click("#verify");
      } else {
        out.refused = await page.textContent("body");
        break;
      }
      await page.waitForLoadState("domcontentloaded");
    }
    out.secret = secret;
  } else if (input.action === "signin") {
    let landed = null;
    await page.route((u) => u.toString().startsWith(input.redirect), (route) => {
      landed = route.request().url();
      route.fulfill({ status: 200, body: "ok" });
    });
    await page.goto(input.url);
    await page.waitForSelector("#username");
    await page.fill("#username", input.upn);
    await page.fill("#password", "typed-at-the-resource-page");
    await page.click("#submit");
    // Home-realm discovery: the home tenant's session answers without a page; the browser
    // ends at the app, or on a page (an MFA prompt, or a refusal).
    for (let i = 0; i < 150 && !landed; i++) {
      await page.waitForTimeout(100);
      if ((await page.locator("#otc, #mfa-setup").count()) > 0) break;
      const t = await page.textContent("body").catch(() => "");
      if (t && t.includes("AADSTS")) break;
    }
    out.homePrompted = !landed && page.url().includes(`/${input.home}/`);
    await page.waitForTimeout(200);
    out.landed = landed;
    out.url = page.url();
    out.text = landed ? "" : await page.textContent("body");
    out.resourceMfa = !landed && ((await page.locator("#mfa-setup").count()) === 1 || (await page.locator("#otc").count()) === 1);
  } else {
    throw new Error(`unknown action ${input.action}`);
  }
  await context.storageState({ path: input.state });
  done(out);
} catch (e) {
  fail(e);
} finally {
  await browser.close();
}
