// msal-node against Castellan: client credentials (confidential client) and auth code + PKCE
// (public client), the sign-in form driven with fetch and a cookie jar.
import * as msal from "@azure/msal-node";
import { input, authConfig, done, fail } from "./common.mjs";

function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
}

async function clientCredentials() {
  const app = new msal.ConfidentialClientApplication(authConfig({ clientId: input.client_id, clientSecret: input.secret }));
  const r = await app.acquireTokenByClientCredential({ scopes: ["https://graph.microsoft.com/.default"] });
  const c = claims(r.accessToken);
  const bad = new msal.ConfidentialClientApplication(authConfig({ clientId: input.client_id, clientSecret: "wrong-secret" }));
  let badError = null;
  try {
    await bad.acquireTokenByClientCredential({ scopes: ["https://graph.microsoft.com/.default"] });
  } catch (e) {
    badError = { code: e.errorCode, message: e.errorMessage ?? e.message };
  }
  return { aud: c.aud, appid: c.appid ?? c.azp, ver: c.ver, idtyp: c.idtyp, roles: c.roles ?? [], tokenType: r.tokenType, badError };
}

// A minimal browser: cookies, no automatic redirects.
const jar = new Map();
async function get(url) {
  return fetch(url, { redirect: "manual", headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") } });
}
function keep(res) {
  for (const c of res.headers.getSetCookie?.() ?? []) {
    const [kv] = c.split(";");
    const i = kv.indexOf("=");
    jar.set(kv.slice(0, i), kv.slice(i + 1));
  }
}
function formOf(html, status) {
  const m = html.match(/<form method="post" action="([^"]+)"/);
  if (!m) throw new Error(`no sign-in form (status ${status}): ${html.slice(0, 1500)}`);
  const action = m[1].replace(/&amp;/g, "&");
  const fields = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields[m[1]] = m[2].replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }
  return { action, fields };
}

async function authCodePkce() {
  const app = new msal.PublicClientApplication(authConfig({ clientId: input.public_client_id }));
  const crypto = new msal.CryptoProvider();
  const { verifier, challenge } = await crypto.generatePkceCodes();
  const redirectUri = "http://localhost:53200";
  const url = await app.getAuthCodeUrl({ scopes: ["User.Read"], redirectUri, codeChallenge: challenge, codeChallengeMethod: "S256", state: "node-state" });
  let res = await get(url);
  keep(res);
  const page = await res.text();
  const { action, fields } = formOf(page, res.status);
  const body = new URLSearchParams({ ...fields, username: input.upn, password: input.password });
  res = await fetch(new URL(action, url), { method: "POST", body, redirect: "manual", headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") } });
  const location = res.headers.get("location");
  if (!location) throw new Error(`no redirect after sign-in (status ${res.status})`);
  const params = new URL(location).searchParams;
  const r = await app.acquireTokenByCode({ code: params.get("code"), scopes: ["User.Read"], redirectUri, codeVerifier: verifier });
  const silent = await app.acquireTokenSilent({ account: r.account, scopes: ["User.Read"], forceRefresh: true });
  let replay = null;
  try {
    await app.acquireTokenByCode({ code: params.get("code"), scopes: ["User.Read"], redirectUri, codeVerifier: verifier });
  } catch (e) {
    replay = { code: e.errorCode, message: e.errorMessage ?? e.message };
  }
  // The replay revoked every token issued from that code: the refresh token no longer works.
  let afterReplay = null;
  try {
    await app.acquireTokenSilent({ account: r.account, scopes: ["User.Read"], forceRefresh: true });
    afterReplay = "refreshed";
  } catch (e) {
    afterReplay = e.errorCode ?? String(e);
  }
  return {
    afterReplay,
    state: params.get("state"),
    username: r.account.username,
    homeAccountId: r.account.homeAccountId,
    scp: claims(r.accessToken).scp,
    idTokenName: r.idTokenClaims.name,
    replay,
    silentRefreshed: silent.accessToken !== r.accessToken,
  };
}

try {
  done({ clientCredentials: await clientCredentials(), authCode: await authCodePkce() });
} catch (e) {
  fail(e);
}
