// A B2B guest signs in to the resource tenant's app in headless Chromium: the resource
// tenant's sign-in page takes the guest's own address, home-realm discovery sends the browser
// to the home tenant's sign-in page, the password is checked there, and the browser comes back
// to the app's redirect URI with a code (captured, not loaded). Prints that URL.
import { input, done, fail } from "./common.mjs";
import { launchBrowser } from "./sample_app.mjs";

let browser;
try {
  let page;
  ({ browser, page } = await launchBrowser());
  let landed = null;
  await page.route((u) => u.toString().startsWith(input.redirect), (route) => {
    landed = route.request().url();
    route.fulfill({ status: 200, body: "ok" });
  });
  await page.goto(input.url);
  await page.waitForSelector("#username");
  const resourceLogin = page.url();
  await page.fill("#username", input.upn);
  await page.fill("#password", "typed-at-the-resource-page");
  await page.click("#submit");
  await page.waitForURL((u) => u.toString().includes(`/${input.home}/oauth2/v2.0/authorize`), { timeout: 15000 });
  await page.waitForSelector("#username");
  const homeLogin = page.url();
  await page.fill("#username", input.upn);
  await page.fill("#password", input.password);
  await page.click("#submit");
  for (let i = 0; i < 150 && !landed; i++) await page.waitForTimeout(100);
  done({ resourceLogin, homeLogin, landed });
} catch (e) {
  fail(e);
} finally {
  await browser?.close();
}
