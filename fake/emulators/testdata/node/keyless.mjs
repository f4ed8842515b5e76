// A keyless deploy to the twostage emulators with Google's official Node.js
// clients, set up only through the emulators' admin API (issue 16): the
// GitHub Actions token request as an external-account credential source,
// STS, impersonation at IAM Credentials, @google-cloud/run over REST
// (fallback) and gRPC, fetchIdToken. Usage: TWOSTAGE_EMULATOR_HOST=HOST:PORT node keyless.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {GoogleAuth, Impersonated} from 'google-auth-library';
import {ServicesClient} from '@google-cloud/run';
import * as grpc from '@grpc/grpc-js';

const host = process.env.TWOSTAGE_EMULATOR_HOST;
if (!host) throw new Error('set TWOSTAGE_EMULATOR_HOST');
const base = `http://${host}`;
const [hostname, port] = host.split(':');
const number = '123456789012';
const pool = `projects/${number}/locations/global/workloadIdentityPools/github`;
const provider = `${pool}/providers/github-actions`;
const sa = 'deployer@my-project.iam.gserviceaccount.com';
const parent = 'projects/my-project/locations/us-central1';
const id = process.env.SERVICE_ID || 'node-api';

async function admin(method, p, body) {
  const r = await fetch(base + '/_admin/v1' + p, {method, headers: {'content-type': 'application/json'}, body: body && JSON.stringify(body)});
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${p}: HTTP ${r.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}
const step = (s) => console.log('ok', s);

// 1. The stage, through the admin API only.
await admin('POST', '/sts/providers', {
  name: provider,
  attributeMapping: {'google.subject': 'assertion.sub', 'attribute.repository_id': 'assertion.repository_id', 'attribute.ref': 'assertion.ref'},
  attributeCondition: "assertion.repository_id == '42' && assertion.ref == 'refs/heads/main'",
});
await admin('PUT', '/github/claims', {sub: 'repo:octo/app:ref:refs/heads/main', repository: 'octo/app', repository_id: '42', repository_owner_id: '7', ref: 'refs/heads/main', event_name: 'push'});
await admin('POST', '/sts/impersonation', {serviceAccount: sa, members: [`principalSet://iam.googleapis.com/${pool}/attribute.repository_id/42`]});
const gh = await admin('GET', '/github');
step('admin setup');

// 2. An external-account credential file, as google-github-actions/auth writes one.
const audience = `//iam.googleapis.com/${provider}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyless-'));
async function externalAccount(impersonate) {
  const file = path.join(dir, impersonate ? 'impersonated.json' : 'federated.json');
  fs.writeFileSync(file, JSON.stringify({
    type: 'external_account',
    audience,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: `${base}/v1/token`,
    ...(impersonate && {service_account_impersonation_url: `${base}/v1/projects/-/serviceAccounts/${sa}:generateAccessToken`}),
    credential_source: {
      url: `${gh.requestURL}&audience=${encodeURIComponent('https:' + audience)}`,
      headers: {Authorization: `Bearer ${gh.requestToken}`},
      format: {type: 'json', subject_token_field_name: 'value'},
    },
  }));
  return new GoogleAuth({keyFile: file, scopes: ['https://www.googleapis.com/auth/cloud-platform']}).getClient();
}
const authClient = await externalAccount(true);
const {token} = await authClient.getAccessToken();
if (!token) throw new Error('no access token');
step('keyless token (GitHub OIDC → STS → impersonation)');

// 3. A deploy over REST (fallback), with the keyless token: refused while
// the deployer holds no role (IAM is enforced), accepted once the project
// owner (a call without a token) grants it roles/run.developer.
const rest = new ServicesClient({fallback: true, apiEndpoint: hostname, port: Number(port), protocol: 'http', authClient});
const image = `${host}/my-project/apps/api@sha256:${'c'.repeat(64)}`;
try {
  await rest.createService({parent, serviceId: id, service: {template: {containers: [{image}]}}});
  throw new Error('createService without a grant succeeded');
} catch (e) {
  if (!String(e.message).includes("Permission 'run.services.create' denied")) throw new Error(`createService without a grant: ${e.message}`);
}
step('REST createService refused without a grant (PERMISSION_DENIED)');
const grant = await fetch(`${base}/v3/projects/my-project:setIamPolicy`, {method: 'POST', headers: {'content-type': 'application/json'},
  body: JSON.stringify({policy: {bindings: [{role: 'roles/run.developer', members: [`serviceAccount:${sa}`]}]}})});
if (!grant.ok) throw new Error(`granting roles/run.developer: HTTP ${grant.status}: ${await grant.text()}`);
step('project owner grants roles/run.developer (Resource Manager REST)');
const [op] = await rest.createService({parent, serviceId: id, service: {template: {containers: [{image}]}}});
const [svc] = await op.promise();
if (!svc.uri || svc.latestReadyRevision === '') throw new Error('deployed service has no uri: ' + JSON.stringify(svc));
step(`REST createService → ${svc.name} ${svc.uri}`);
const [got] = await rest.getService({name: `${parent}/services/${id}`});
step(`REST getService → ${got.latestReadyRevision}`);
try {
  await rest.getService({name: `${parent}/services/missing`});
  throw new Error('getService of a missing service succeeded');
} catch (e) {
  // gax maps the JSON error's status to code 5; through an authClient the
  // answer reaches the caller as gaxios's error (HTTP 404) with the body.
  if (e.code !== 5 && !(e.code === 404 && e.message.includes('"status":"NOT_FOUND"'))) {
    throw new Error(`missing service: code ${e.code}, want NOT_FOUND: ${e.message}`);
  }
}
step('REST NOT_FOUND');

// 4. The same API over gRPC (plain text; the emulator authorises a call without a token as the owner).
const g = new ServicesClient({apiEndpoint: hostname, port: Number(port), sslCreds: grpc.credentials.createInsecure(), authClient});
const [list] = await g.listServices({parent});
if (!list.some((s) => s.name.endsWith('/' + id))) throw new Error('gRPC listServices misses ${id}');
step(`gRPC listServices → ${list.length} service(s)`);
await g.close();
await rest.close();

// 5. fetchIdToken for the service: the federated token impersonates the
// deployer (as google-github-actions/auth's id_token output does).
const imp = new Impersonated({sourceClient: await externalAccount(false), targetPrincipal: sa, targetScopes: ['https://www.googleapis.com/auth/cloud-platform'], endpoint: base});
const idToken = await imp.fetchIdToken(svc.uri, {includeEmail: true});
const claims = JSON.parse(Buffer.from(idToken.split('.')[1], 'base64url').toString());
if (claims.aud !== svc.uri || claims.email !== sa) throw new Error('ID token claims ' + JSON.stringify(claims));
step('fetchIdToken');
console.log('PASS');
