// A tiny web app (msal-node, auth code + PKCE, server side) signed into through Castellan's real
// pages in headless Debian Chromium, driven by playwright-core. Prints what the app showed.
import http from "node:http";
import * as msal from "@azure/msal-node";
import { chromium } from "playwright-core";
import { input, authConfig, done, fail } from "./common.mjs";

const port = input.port;
const redirectUri = `http://localhost:${port}/redirect`;
const cca = new msal.ConfidentialClientApplication(authConfig({ clientId: input.client_id, clientSecret: input.secret }));
const crypto = new msal.CryptoProvider();
let pending = null;
let signedIn = null;
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, `http://localhost:${port}`);
  try {
    if (url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(signedIn
        ? `<h1 id="hello">Signed in as ${esc(signedIn.name)}</h1><p id="upn">${esc(signedIn.upn)}</p>`
        : `<h1>Sample app</h1><a id="signin" href="/login">Sign in</a>`);
    } else if (url.pathname === "/login") {
      const { verifier, challenge } = await crypto.generatePkceCodes();
      const state = crypto.createNewGuid();
      pending = { verifier, state };
      const authUrl = await cca.getAuthCodeUrl({ scopes: ["User.Read"], redirectUri, codeChallenge: challenge, codeChallengeMethod: "S256", state });
      res.writeHead(302, { location: authUrl });
      res.end();
    } else if (url.pathname === "/redirect") {
      if (url.searchParams.get("state") !== pending?.state) throw new Error("state mismatch");
      if (url.searchParams.get("error")) throw new Error(url.searchParams.get("error_description"));
      const r = await cca.acquireTokenByCode({ code: url.searchParams.get("code"), scopes: ["User.Read"], redirectUri, codeVerifier: pending.verifier });
      signedIn = { name: r.idTokenClaims.name, upn: r.account.username };
      res.writeHead(302, { location: "/" });
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  } catch (e) {
    res.writeHead(500, { "content-type": "text/plain" });
    res.end(`sign-in failed: ${e.message}`);
  }
});

await new Promise((r) => server.listen(port, "127.0.0.1", r));
let browser;
try {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  // The server's certificate is signed by the data dir's local CA, which this throwaway
  // browser profile does not know; trusting it is not what this test is about.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  await page.goto(`http://localhost:${port}/`);
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
  await page.goto(`http://localhost:${port}/login`);
  await page.waitForSelector("#hello", { timeout: 15000 });
  const ssoUrl = page.url();
  done({ appName, pageError, hello, ssoUrl });
} catch (e) {
  fail(e);
} finally {
  await browser?.close();
  server.close();
}
