// MFA through the real pages in headless Chromium: a user whom a Conditional Access policy
// requires to use MFA signs into the sample web app, is sent to register an authenticator app
// (AADSTS50079), registers it on the setup page (the test computes the RFC 6238 code from the
// key the page shows, as an authenticator app would), gets recovery codes, signs in again and
// passes the challenge with the next code. Prints what each step showed.
import { createHmac } from "node:crypto";
import { input, done, fail } from "./common.mjs";
import { startSampleApp, launchBrowser } from "./sample_app.mjs";

// RFC 4648 base32 → bytes; RFC 6238 TOTP (HMAC-SHA1, 30 s, 6 digits).
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

const app = await startSampleApp();
let browser;
try {
  let page;
  ({ browser, page } = await launchBrowser());
  await page.goto(`${app.url}/`);
  await page.click("#signin");
  await page.waitForSelector("#username");
  await page.fill("#username", input.upn);
  await page.fill("#password", input.password);
  await page.click("#submit");
  // No authenticator app yet: the register-first page (50079) links to the setup page.
  await page.waitForSelector("#mfa-setup", { timeout: 15000 });
  const registerPage = await page.textContent("body");
  await page.click("#mfa-setup");
  await page.waitForSelector("#secret", { timeout: 15000 });
  const hasQr = (await page.locator("svg#qr").count()) === 1;
  const secret = (await page.textContent("#secret")).replace(/\s+/g, "");
  // A wrong code first: the page says so and stays.
  await page.fill("#code", totp(secret) === "000000" ? "111111" : "000000");
  await page.click("#submit");
  await page.waitForSelector("#error", { timeout: 15000 });
  const setupError = await page.textContent("#error");
  await page.fill("#code", totp(secret));
  await page.click("#submit");
  await page.waitForSelector("#recovery-codes", { timeout: 15000 });
  const recoveryCodes = await page.locator("#recovery-codes li").count();
  // Sign in again: the session has the password; the policy wants MFA: the challenge page.
  await page.goto(`${app.url}/login`);
  await page.waitForSelector("#otc", { timeout: 15000 });
  const challengeTitle = await page.textContent("h1");
  // The code used at registration is spent: the next time step's code (accepted within the
  // allowed drift) passes.
  await page.fill("#otc", totp(secret, Date.now() / 1000 + 30));
  await page.click("#verify");
  await page.waitForSelector("#hello", { timeout: 15000 });
  const hello = await page.textContent("#hello");
  const amr = await page.textContent("#amr");
  done({ registerPage, hasQr, setupError, recoveryCodes, challengeTitle, hello, amr });
} catch (e) {
  fail(e);
} finally {
  await browser?.close();
  app.server.close();
}
