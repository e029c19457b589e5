// An independent OpenID Provider for the external-identity-provider tests: panva's
// oidc-provider (pinned in package.json) over HTTPS with the test CA's certificate, one
// confidential client (client_secret_post, PKCE required, the redirect URI Castellan gives),
// RS256 ID tokens and its stock development login and consent pages (any login; the login
// typed is the account id and its email address, verified). Runs until killed; prints
// {"ready": true, "issuer": …} once listening.
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import https from "node:https";
import Provider from "oidc-provider";
import { input } from "./common.mjs";

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: "jwk" }), kid: "op-rs256", alg: "RS256", use: "sig" };
const issuer = `https://127.0.0.1:${input.port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: input.client_id,
    client_secret: input.client_secret,
    redirect_uris: [input.redirect_uri],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_post",
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: ["castellan-conformance-op-cookie-key"] },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  // The scope's claims go into the ID token too (Castellan reads the ID token, not userinfo).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, email_verified: true, name: `External ${id.split("@")[0]}` };
      },
    };
  },
});
provider.on("server_error", (ctx, err) => process.stderr.write(`op server_error: ${err}\n`));

https
  .createServer({ key: readFileSync(input.key), cert: readFileSync(input.cert) }, provider.callback())
  .listen(input.port, "127.0.0.1", () => {
    process.stdout.write(JSON.stringify({ ready: true, issuer }) + "\n");
  });
