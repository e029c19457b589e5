// The benchmark's peer: panva's oidc-provider (pinned in package.json / package-lock.json),
// in-memory adapter (its default), one confidential client, client credentials issuing RS256
// JWT access tokens for one resource via resource indicators. HTTPS with the certificate the
// benchmark hands it, so both servers pay for TLS.
//
// node server.mjs <port> <cert.pem> <key.pem>   (prints "listening" when ready)
import https from 'node:https';
import fs from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, certFile, keyFile] = process.argv.slice(2);
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'bench' };
const RESOURCE = 'https://graph.microsoft.com';

const provider = new Provider(`https://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'bench-client',
    client_secret: 'bench-secret-bench-secret-bench-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  jwks: { keys: [jwk] },
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (resource !== RESOURCE) throw new Error('unknown resource');
        return {
          scope: 'User.Read.All',
          audience: RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  scopes: ['User.Read.All'],
});
provider.proxy = false;

const server = https.createServer(
  { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile), keepAlive: true },
  provider.callback(),
);
server.keepAliveTimeout = 60_000;
server.listen(Number(port), '127.0.0.1', () => {
  console.log('listening');
});
