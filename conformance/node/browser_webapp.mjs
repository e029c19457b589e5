// A tiny web app (msal-node, auth code + PKCE, server side) signed into through Castellan's real
// pages in headless Debian Chromium, driven by playwright-core. Prints what the app showed.
import { input, done, fail } from "./common.mjs";
import { startSampleApp, launchBrowser } from "./sample_app.mjs";

const app = await startSampleApp();
let browser;
try {
  let page;
  ({ browser, page } = await launchBrowser());
  await page.goto(`${app.url}/`);
  await page.click("#signin");
  await page.waitForSelector("#username");
  const appName = await page.textContent("#app-name");
  // A wrong password first: the page shows the AADSTS code and keeps the user on the form.
  await page.fill("#username", input.upn);
  await page.fill("#password", "wrong-password");
  await page.click("#submit");
  const pageError = await page.textContent("#error");
  await page.fill("#password", input.password);
  await page.click("#submit");
  await page.waitForSelector("#hello", { timeout: 15000 });
  const hello = await page.textContent("#hello");
  // SSO: signing in again goes straight through without the form.
  await page.goto(`${app.url}/login`);
  await page.waitForSelector("#hello", { timeout: 15000 });
  const ssoUrl = page.url();
  done({ appName, pageError, hello, ssoUrl });
} catch (e) {
  fail(e);
} finally {
  await browser?.close();
  app.server.close();
}
