// A /common sign-in in headless Chromium by a person who is a member of one tenant and a guest
// of another: the sign-in page, the home password, the tenant picker (the home tenant first and
// preselected), the choice of input.choose (a guest tenant), the home tenant's own sign-in page,
// and the app's redirect URI with a code (captured, not loaded). Prints the picker's text, the
// home sign-in URL and the landing URL.
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
  await page.fill("#username", input.upn);
  await page.fill("#password", input.password);
  await page.click("#submit");
  await page.waitForSelector('input[name="tenant"]', { timeout: 15000 });
  const picker = await page.textContent("body");
  const options = await page.$$eval('input[name="tenant"]', (xs) => xs.map((x) => ({ value: x.value, checked: x.checked })));
  await page.check(`#t-${input.choose}`);
  await page.click("#submit");
  // A guest tenant chosen: the home tenant's own sign-in page first (its MFA and Conditional
  // Access apply there), then back to the chosen tenant and on to the app.
  await page.waitForURL((u) => u.toString().includes(`/${input.home}/oauth2/v2.0/authorize`) || landed, { timeout: 15000 });
  const homeLogin = page.url();
  await page.waitForSelector("#username");
  await page.fill("#username", input.upn);
  await page.fill("#password", input.password);
  await page.click("#submit");
  for (let i = 0; i < 150 && !landed; i++) await page.waitForTimeout(100);
  done({ picker, options, homeLogin, landed, last: landed ? null : await page.textContent("body") });
} catch (e) {
  fail(e);
} finally {
  await browser?.close();
}
