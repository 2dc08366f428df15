// A real OpenID Connect provider for celadon's tests: npm's oidc-provider
// (end2end/package.json pins it; scripts/setup installs it with `npm ci` in
// end2end), one confidential client, a fixed set of users, and the
// package's development login form, which takes the user's id as the login
// and any password. The Rust kit (kit/src/oidc.rs) and the end-to-end tests
// (end2end/tests/support/cluster.ts) both start this script, so both test
// against the same provider, configured the same way.
//
//   node kit/oidc/provider.mjs CONFIG.json [--port=N] [--issuer=URL]
//       [--client-id=ID] [--client-secret=SECRET] [--redirect-uri=URI]...
//       [--user=ID:EMAIL[:GROUP,GROUP...]]...
//
// CONFIG.json (optional when the flags say everything):
//   { "port": 9000, "issuer": "http://127.0.0.1:9000",
//     "client_id": "celadon", "client_secret": "...",
//     "redirect_uris": ["http://127.0.0.1:5555/login"],
//     "users": { "alice": { "email": "alice@example.com", "name": "Alice",
//                           "groups": ["celery-operators"] } } }
// Flags override the file; --redirect-uri and --user add to it.
//
// Once it listens it prints one line, `oidc-provider ready at <issuer>`.
// Its signing key is new at every start.
//
// ESM ignores NODE_PATH, so the package is imported by its path:
// OIDC_PROVIDER_DIR, else end2end/node_modules/oidc-provider of this
// checkout.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function fail(message) {
  console.error(`provider.mjs: ${message}`);
  process.exit(2);
}

function options(argv) {
  const config = { redirect_uris: [], users: {} };
  for (const arg of argv) {
    if (!arg.startsWith('--')) {
      Object.assign(config, JSON.parse(readFileSync(arg, 'utf8')));
      config.redirect_uris ??= [];
      config.users ??= {};
      continue;
    }
    const [flag, ...rest] = arg.slice(2).split('=');
    const value = rest.join('=');
    switch (flag) {
      case 'port': config.port = Number(value); break;
      case 'issuer': config.issuer = value; break;
      case 'client-id': config.client_id = value; break;
      case 'client-secret': config.client_secret = value; break;
      case 'redirect-uri': config.redirect_uris.push(value); break;
      case 'user': {
        const [id, email, groups] = value.split(':');
        config.users[id] = { email, groups: groups ? groups.split(',') : [] };
        break;
      }
      default: fail(`unknown flag --${flag}`);
    }
  }
  if (!Number.isInteger(config.port) || config.port <= 0) fail('a --port (or "port") is needed');
  config.issuer ??= `http://127.0.0.1:${config.port}`;
  config.client_id ??= 'celadon';
  if (!config.client_secret) fail('a --client-secret (or "client_secret") is needed');
  if (config.redirect_uris.length === 0) fail('at least one --redirect-uri (or "redirect_uris") is needed');
  return config;
}

const config = options(process.argv.slice(2));

const packageDir = resolve(process.env.OIDC_PROVIDER_DIR
  ?? join(here, '..', '..', 'end2end', 'node_modules', 'oidc-provider'));
const entry = join(packageDir, 'lib', 'index.js');
if (!existsSync(entry)) {
  fail(`oidc-provider is not installed at ${packageDir}: run scripts/setup (it runs npm ci in end2end)`);
}
const { default: Provider } = await import(pathToFileURL(entry).href);

/** The claims of user `id`: what the id token and userinfo carry. */
function claimsOf(id) {
  const user = config.users[id];
  return {
    sub: id,
    email: user.email,
    email_verified: true,
    name: user.name ?? id,
    preferred_username: user.preferred_username ?? id,
    groups: user.groups ?? [],
  };
}

// A signing key of its own, new at every start, as a provider that rotates
// its keys has: a client that read the keys once must read them again.
// (The package's development keys are the same in every install.)
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };

const provider = new Provider(config.issuer, {
  jwks: { keys: [signingKey] },
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: config.redirect_uris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // Without it, a token is issued with an id_token carrying only `sub`,
  // and email and groups are in the userinfo answer only.
  conformIdTokenClaims: false,
  findAccount: async (ctx, id) => config.users[id] && {
    accountId: id,
    claims: async () => claimsOf(id),
  },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => false },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  // Every scope the client asks for is granted at once: no consent page,
  // as with a provider whose administrator approved the client.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId
      ?? ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    const grant = grantId
      ? await ctx.oidc.provider.Grant.find(grantId)
      : new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
    grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
    await grant.save();
    return grant;
  },
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

const server = provider.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider ready at ${config.issuer}`);
});
server.on('error', (error) => fail(`cannot listen on 127.0.0.1:${config.port}: ${error.message}`));
