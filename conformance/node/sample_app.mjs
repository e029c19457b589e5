// A tiny web app (msal-node, auth code + PKCE, server side) and the headless Debian Chromium
// that signs into it through Castellan's real pages (playwright-core). Shared by the browser
// scripts.
import http from "node:http";
import * as msal from "@azure/msal-node";
import { chromium } from "playwright-core";
import { input, authConfig } from "./common.mjs";

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Starts the app on input.port; resolves to { server, signedIn() }.
export async function startSampleApp() {
  const port = input.port;
  const redirectUri = `http://localhost:${port}/redirect`;
  const cca = new msal.ConfidentialClientApplication(authConfig({ clientId: input.client_id, clientSecret: input.secret }));
  const crypto = new msal.CryptoProvider();
  let pending = null;
  let signedIn = null;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, `http://localhost:${port}`);
    try {
      if (url.pathname === "/") {
        res.writeHead(200, { "content-type": "text/html" });
        res.end(signedIn
          ? `<h1 id="hello">Signed in as ${esc(signedIn.name)}</h1><p id="upn">${esc(signedIn.upn)}</p><p id="amr">${esc((signedIn.amr ?? []).join(" "))}</p>`
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
        signedIn = { name: r.idTokenClaims.name, upn: r.account.username, amr: r.idTokenClaims.amr };
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
  return { server, url: `http://localhost:${port}` };
}

// Headless Chromium with a throwaway profile. The server's certificate is signed by the data
// dir's local CA, which this profile does not know; trusting it is not what these tests are about.
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  return { browser, page: await context.newPage() };
}
