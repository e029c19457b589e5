// B2B redemption in headless Chromium: open the invitation's inviteRedeemUrl, choose "Sign in"
// (the invited address belongs to another tenant on the server), sign in there with the home
// account's password on the home tenant's own page, accept the resource tenant's consent page,
// and land on the inviteRedirectUrl. Prints what each step showed.
import { input, done, fail } from "./common.mjs";
import { launchBrowser } from "./sample_app.mjs";

let browser;
try {
  let page;
  ({ browser, page } = await launchBrowser());
  await page.goto(input.url);
  const landing = await page.textContent("body");
  await page.click("#home button");
  await page.waitForSelector("#username", { timeout: 15000 });
  const loginUrl = page.url();
  const hint = await page.inputValue("#username");
  await page.fill("#username", input.upn);
  await page.fill("#password", input.password);
  await page.click("#submit");
  await page.waitForSelector("#accept button", { timeout: 15000 });
  const consent = await page.textContent("body");
  await page.click("#accept button");
  await page.waitForURL((u) => u.toString().startsWith(input.redirect), { timeout: 15000 });
  const landed = page.url();
  // The same link again: refused with a clear page.
  const again = await page.goto(input.url);
  const againText = await page.textContent("body");
  done({ landing, loginUrl, hint, consent, landed, againStatus: again.status(), againText });
} catch (e) {
  fail(e);
} finally {
  await browser?.close();
}
