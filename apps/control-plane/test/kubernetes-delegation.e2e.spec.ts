/**
 * The control plane behind the Kubernetes aggregation layer (PORTOLAN_KUBERNETES_AUTH=delegated,
 * PORTOLAN_APISERVICE_NAME), over real TLS on loopback: requests come as kube-apiserver's front
 * proxy sends them (its client certificate, the user in X-Remote-* headers), the Kubernetes API is
 * a double that publishes the front-proxy configuration, answers SubjectAccessReviews from a table
 * the test sets, and holds the APIService. Certificates are made here: a front-proxy CA and its
 * client (CN front-proxy-client), and the impostors that must be refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubernetesAuthApiDouble } from '../src/auth/delegated/testing/kubernetes-auth-api-double';
import { testCertificateAuthority, testClientCertificate, type TestCertificate } from '../src/auth/delegated/testing/test-certificates';
import { nsPath } from './support/api-client';
import { startInProcess, type InProcessControlPlane } from './support/in-process';
import { eventually } from './support/eventually';

const APISERVICE = 'v1alpha1.mesh.portolan.dev';
const frontProxyCa = testCertificateAuthority('front-proxy-ca');
const frontProxyClient = testClientCertificate(frontProxyCa, 'front-proxy-client');
/** Same CN, same CA name, another key: what an attacker who read the manifests could make. */
const impostorCa = testCertificateAuthority('front-proxy-ca');
const impostorClient = testClientCertificate(impostorCa, 'front-proxy-client');
/** Signed by the front-proxy CA, but for a CN that requestheader-allowed-names does not list. */
const otherClientOfTheCa = testClientCertificate(frontProxyCa, 'kubelet-client');

const policy = (name: string) => ({
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'RateLimitPolicy',
  metadata: { name },
  spec: { targetRef: { kind: 'Mesh' }, limits: [{ name: 'per-minute', requests: 100, interval: '60s' }] },
});

let kubernetes: KubernetesAuthApiDouble;
let cp: InProcessControlPlane;
let dir: string;
const agents: Agent[] = [];

interface Caller {
  /** The client certificate it presents, if any. */
  certificate?: TestCertificate;
  /** The X-Remote-* headers it sends, as [name, value] pairs (a name may repeat). */
  identity?: Array<[string, string]>;
  token?: string;
}

/** One HTTPS request, the way kube-apiserver's proxy (or an impostor) would make it. */
async function call(caller: Caller, method: string, path: string, body?: unknown, contentType = 'application/json') {
  const agent = new Agent({ connect: { ca: cp.running.caPem, ...(caller.certificate ? { cert: caller.certificate.certPem, key: caller.certificate.keyPem } : {}) } });
  agents.push(agent);
  const headers = ['accept', 'application/json', ...(caller.identity ?? []).flat()];
  if (caller.token) headers.push('authorization', `Bearer ${caller.token}`);
  if (body !== undefined) headers.push('content-type', contentType);
  const response = await request(`${cp.running.apiUrl}${path}`, { method: method as 'GET', headers, body: body === undefined ? undefined : JSON.stringify(body), dispatcher: agent });
  const text = await response.body.text();
  let answer: any = text;
  try {
    answer = text ? JSON.parse(text) : undefined;
  } catch {
    // A watch answers one JSON event per line: kept as text.
  }
  return { status: response.statusCode, body: answer };
}

/**
 * A request whose path is sent exactly as written: undici, like every URL library, would resolve
 * `..` and `%2e%2e` before sending, which is the difference these requests test.
 */
function rawCall(caller: Caller, method: string, path: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const url = new URL(cp.running.apiUrl);
    const headers: Record<string, string | string[]> = { accept: 'application/json' };
    for (const [name, value] of caller.identity ?? []) headers[name] = headers[name] ? [...[headers[name]].flat(), value] : value;
    const outgoing = httpsRequest(
      { host: url.hostname, port: url.port, method, path, headers, ca: cp.running.caPem, ...(caller.certificate ? { cert: caller.certificate.certPem, key: caller.certificate.keyPem } : {}), agent: false },
      (incoming) => {
        let text = '';
        incoming.setEncoding('utf8');
        incoming.on('data', (chunk: string) => (text += chunk));
        incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** kube-apiserver's front proxy, speaking for `user`. */
const frontProxy = (user: string, groups: string[] = ['system:authenticated'], extra: Array<[string, string]> = []): Caller => ({
  certificate: frontProxyClient,
  identity: [['X-Remote-User', user], ...groups.map((group): [string, string] => ['X-Remote-Group', group]), ...extra],
});


beforeAll(async () => {
  kubernetes = await KubernetesAuthApiDouble.start();
  kubernetes.authenticationConfigMap = {
    'client-ca-file': testCertificateAuthority('kubernetes').certPem,
    'requestheader-allowed-names': '["front-proxy-client"]',
    'requestheader-client-ca-file': frontProxyCa.certPem,
    'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
    'requestheader-group-headers': '["X-Remote-Group"]',
    'requestheader-username-headers': '["X-Remote-User"]',
  };
  kubernetes.addApiService(APISERVICE, { service: { namespace: 'portolan', name: 'portolan-control-plane' } });
  dir = mkdtempSync(join(tmpdir(), 'portolan-delegation-'));
  kubernetes.writeKubeconfig(join(dir, 'kubeconfig'));
  cp = await startInProcess({
    PORTOLAN_KUBERNETES_AUTH: 'delegated',
    PORTOLAN_KUBECONFIG: join(dir, 'kubeconfig'),
    PORTOLAN_APISERVICE_NAME: APISERVICE,
    PORTOLAN_TLS_SANS: 'portolan-control-plane.portolan.svc',
  });
  // The ConfigMap is read in the background; front-proxied requests get 503 until it is.
  kubernetes.accessRules = [{ user: 'probe', allowed: true }];
  await eventually(() => call(frontProxy('probe'), 'GET', '/apis'), (response) => response.status === 200, 'the front-proxy configuration to be read');
});
afterAll(async () => {
  await Promise.all(agents.map((agent) => agent.close()));
  await cp?.stop();
  await kubernetes?.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  kubernetes.reviews.length = 0;
  kubernetes.subjectAccessReviews = 'answer';
});

describe('a user kube-apiserver front-proxies', () => {
  it('lists, gets and creates what RBAC allows, and is the actor of its writes', async () => {
    kubernetes.accessRules = [{ user: 'jane', resource: 'ratelimitpolicies', namespace: 'default', allowed: true }];
    const jane = frontProxy('jane', ['devs', 'system:authenticated']);

    const created = await call(jane, 'POST', nsPath('ratelimitpolicies'), policy('by-jane'));
    expect(created.status).toBe(201);
    expect((await call(jane, 'GET', nsPath('ratelimitpolicies'))).body.items.map((item: any) => item.metadata.name)).toContain('by-jane');
    expect((await call(jane, 'GET', nsPath('ratelimitpolicies', 'by-jane'))).body).toMatchObject({ metadata: { name: 'by-jane' } });

    expect(kubernetes.reviews).toEqual([
      { user: 'jane', groups: ['devs', 'system:authenticated'], resourceAttributes: { group: 'mesh.portolan.dev', version: 'v1alpha1', resource: 'ratelimitpolicies', namespace: 'default', verb: 'create' } },
      { user: 'jane', groups: ['devs', 'system:authenticated'], resourceAttributes: { group: 'mesh.portolan.dev', version: 'v1alpha1', resource: 'ratelimitpolicies', namespace: 'default', verb: 'list' } },
      { user: 'jane', groups: ['devs', 'system:authenticated'], resourceAttributes: { group: 'mesh.portolan.dev', version: 'v1alpha1', resource: 'ratelimitpolicies', namespace: 'default', name: 'by-jane', verb: 'get' } },
    ]);
    // Recorded as kubernetes:jane, so that no one mistakes it for a Portolan token named jane.
    const history = await cp.client.call('GET', `${nsPath('ratelimitpolicies', 'by-jane')}/history`);
    expect(history.body.items[0].actor).toMatch(/^kubernetes:jane\b/);
    // And so in the audit log, without a role: RBAC, not a Portolan role, decided.
    const [audited] = (await cp.client.call('GET', '/v1/audit?actor=kubernetes:jane&action=create&name=by-jane')).body.items;
    expect(audited).toMatchObject({ actor: 'kubernetes:jane', object: { kind: 'RateLimitPolicy', namespace: 'default', name: 'by-jane' }, outcome: { status: 'Success', code: 201 } });
    expect(audited).not.toHaveProperty('role');
  });

  it('is refused 403 in kube-apiserver\'s words when RBAC denies, and nothing changes', async () => {
    expect((await cp.client.call('POST', nsPath('ratelimitpolicies'), policy('guarded'))).status).toBe(201);
    kubernetes.accessRules = [
      { user: 'jane', verb: 'get', allowed: true },
      { user: 'jane', verb: 'patch', allowed: false },
    ];
    const denied = await call(frontProxy('jane'), 'PATCH', nsPath('ratelimitpolicies', 'guarded'), { metadata: { labels: { changed: 'yes' } } }, 'application/merge-patch+json');
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'Forbidden',
      code: 403,
      message: 'ratelimitpolicies.mesh.portolan.dev "guarded" is forbidden: User "jane" cannot patch resource "ratelimitpolicies" in API group "mesh.portolan.dev" in the namespace "default"',
      details: { group: 'mesh.portolan.dev', kind: 'ratelimitpolicies', name: 'guarded' },
    });
    expect((await cp.client.call('GET', nsPath('ratelimitpolicies', 'guarded'))).body.metadata.labels).toBeUndefined();
    // The refusal is audited under the user the review refused.
    const [audited] = (await cp.client.call('GET', '/v1/audit?actor=kubernetes:jane&action=patch&name=guarded')).body.items;
    expect(audited).toMatchObject({ object: { name: 'guarded' }, outcome: { status: 'Failure', code: 403, reason: 'Forbidden', message: denied.body.message } });
  });

  it('gets the authorizer\'s reason after the message when it gives one', async () => {
    kubernetes.accessRules = [{ user: 'joe', allowed: false, reason: 'no RoleBinding grants delete on mesh policies in "default"' }];
    const denied = await call(frontProxy('joe'), 'DELETE', nsPath('ratelimitpolicies', 'guarded'));
    expect(denied.body.message).toBe(
      'ratelimitpolicies.mesh.portolan.dev "guarded" is forbidden: User "joe" cannot delete resource "ratelimitpolicies" in API group "mesh.portolan.dev" in the namespace "default": no RoleBinding grants delete on mesh policies in "default"',
    );
  });

  it('is reviewed with the attributes kube-apiserver would authorize: watch, subresources, extra, discovery', async () => {
    kubernetes.accessRules = [{ user: 'system:serviceaccount:ci:deployer', allowed: true }];
    const ci = frontProxy('system:serviceaccount:ci:deployer', ['system:serviceaccounts', 'system:serviceaccounts:ci'], [['X-Remote-Extra-Authentication.kubernetes.io%2Fpod-name', 'ci-0']]);
    const watch = await call(ci, 'GET', `${nsPath('ratelimitpolicies')}?watch=true&timeoutSeconds=1`);
    expect(watch.status).toBe(200);
    expect((await call(ci, 'GET', `${nsPath('ratelimitpolicies', 'guarded')}/status`)).status).toBe(200);
    expect((await call(ci, 'GET', `${nsPath('ratelimitpolicies', 'guarded')}/history`)).status).toBe(200);
    expect((await call(ci, 'GET', '/openapi/v3')).status).toBe(200);

    const subject = { user: 'system:serviceaccount:ci:deployer', groups: ['system:serviceaccounts', 'system:serviceaccounts:ci'], extra: { 'authentication.kubernetes.io/pod-name': ['ci-0'] } };
    const resource = { group: 'mesh.portolan.dev', version: 'v1alpha1', resource: 'ratelimitpolicies', namespace: 'default' };
    expect(kubernetes.reviews).toEqual([
      { ...subject, resourceAttributes: { ...resource, verb: 'watch' } },
      { ...subject, resourceAttributes: { ...resource, name: 'guarded', subresource: 'status', verb: 'get' } },
      { ...subject, resourceAttributes: { ...resource, name: 'guarded', subresource: 'history', verb: 'get' } },
      { ...subject, nonResourceAttributes: { path: '/openapi/v3', verb: 'get' } },
    ]);
  });

  it('is refused the routes an APIService never routes here (tokens, dashboard, agents), without a review', async () => {
    kubernetes.accessRules = [{ allowed: true }];
    for (const [method, path] of [['GET', '/v1/whoami'], ['GET', '/v1/tokens'], ['GET', '/v1/events']]) {
      const refused = await call(frontProxy('jane', ['system:masters']), method, path);
      expect(refused.status).toBe(403);
      expect(refused.body.message).toContain(`${method} ${path} is for Portolan bearer tokens`);
    }
    expect(kubernetes.reviews).toEqual([]);
  });
});

describe('a user RBAC allows to list one object by name (the review decides by its attributes)', () => {
  const ns = 'narrowed';
  const list = (query: string) => call(frontProxy('nora'), 'GET', `${nsPath('ratelimitpolicies', undefined, ns)}?${query}`);
  const names = (body: any) => (body?.items ?? []).map((item: any) => item.metadata.name);

  beforeAll(async () => {
    for (const name of ['x', 'other', 'secret']) expect((await cp.client.call('POST', nsPath('ratelimitpolicies', undefined, ns), policy(name))).status).toBe(201);
  });
  beforeEach(() => {
    kubernetes.accessRules = [{ user: 'nora', verb: 'list', resource: 'ratelimitpolicies', namespace: ns, name: 'x', allowed: true }];
  });

  it('gets x when the field selector names it, and 403 for the whole list', async () => {
    const narrowed = await list(`fieldSelector=${encodeURIComponent('metadata.name=x')}`);
    expect(narrowed.status).toBe(200);
    expect(names(narrowed.body)).toEqual(['x']);
    expect((await list('')).status).toBe(403);
    expect(kubernetes.reviews.map((review) => review.resourceAttributes?.name)).toEqual(['x', undefined]);
  });

  it.each([
    // Split on commas outside parentheses, it read as metadata.name notin (q=,metadata.name=x,r=) and served every object.
    ['set-based syntax around a metadata.name=x term', 'metadata.name notin (q=,metadata.name=x,r=)'],
    ['an inequality beside the pinned name', 'metadata.name=x,metadata.name!=x'],
    ['escaped commas', 'metadata.name=x\\,metadata.name!=x'],
  ])('never gets another object through %s', async (_case, selector) => {
    const answer = await list(`fieldSelector=${encodeURIComponent(selector)}`);
    expect([200, 400, 403]).toContain(answer.status);
    expect(names(answer.body).filter((name: string) => name !== 'x')).toEqual([]);
  });

  it('is filtered by the first fieldSelector when it sends two, the one it was authorized for', async () => {
    const answer = await list(`fieldSelector=${encodeURIComponent('metadata.name=x')}&fieldSelector=${encodeURIComponent('metadata.name!=x')}`);
    expect(answer.status).toBe(200);
    expect(names(answer.body)).toEqual(['x']);
  });

  it('gets a watch, not a list, when watch is any value but false or 0, since that is what was authorized', async () => {
    kubernetes.accessRules = [{ user: 'nora', verb: 'watch', allowed: true }];
    const watched = await list('watch=yes&timeoutSeconds=1');
    expect(watched.status).toBe(200);
    // A watch answers events, one JSON object per line; a list would be a RateLimitPolicyList.
    expect(String(watched.body)).toContain('"type":"ADDED"');
    expect(String(watched.body)).not.toContain('RateLimitPolicyList');
    expect(kubernetes.reviews.at(-1)?.resourceAttributes?.verb).toBe('watch');
    expect((await list('watch=false')).status).toBe(403);
  });
});

describe('a front-proxied path the router would read otherwise', () => {
  // Each routes (the router takes `..` for a name and matches fixed segments ignoring case), while
  // a URL library would have resolved the dots, and requestinfo reads NAMESPACES as a resource.
  it.each([
    ['..', `${nsPath('ratelimitpolicies')}/..`],
    ['%2e%2e', '/apis/mesh.portolan.dev/v1alpha1/namespaces/%2e%2E/ratelimitpolicies'],
    ['capitals', '/apis/mesh.portolan.dev/v1alpha1/NAMESPACES/default/ratelimitpolicies'],
  ])('is refused 400 before any review: %s', async (_case, path) => {
    kubernetes.accessRules = [{ allowed: true }];
    const refused = await rawCall(frontProxy('jane'), 'GET', path);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ kind: 'Status', reason: 'BadRequest', message: expect.stringContaining(JSON.stringify(path)) });
    expect(kubernetes.reviews).toEqual([]);
  });
});

describe('a request naming a user without the front proxy\'s certificate', () => {
  it.each<[string, Caller, RegExp]>([
    ['no client certificate', { identity: [['X-Remote-User', 'admin'], ['X-Remote-Group', 'system:masters']] }, /without a TLS client certificate/],
    ['a certificate of another CA with the right CN', { certificate: impostorClient, identity: [['X-Remote-User', 'admin']] }, /is not signed by the front-proxy CA/],
    ['a certificate of the front-proxy CA with a CN not allowed', { certificate: otherClientOfTheCa, identity: [['X-Remote-User', 'admin']] }, /CN "kubelet-client" is not in requestheader-allowed-names \["front-proxy-client"\]/],
    ['only a group header', { identity: [['x-remote-group', 'system:masters']] }, /carries X-Remote-Group, which say who the user is, but the request came without a TLS client certificate/],
  ])('is refused 401 and writes nothing: %s', async (_case, caller, reason) => {
    const name = `forged-${Math.random().toString(36).slice(2, 8)}`;
    const refused = await call(caller, 'POST', nsPath('ratelimitpolicies'), policy(name));
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401, message: expect.stringMatching(reason) });
    expect(refused.body.message).toContain('Only kube-apiserver\'s front proxy');
    expect((await cp.client.call('GET', nsPath('ratelimitpolicies', name))).status).toBe(404);
    expect(kubernetes.reviews).toEqual([]);
  });

  it('is refused 401 even beside a valid bearer token: the headers are never ignored silently', async () => {
    const refused = await call({ token: cp.adminToken, identity: [['X-Remote-User', 'jane']] }, 'GET', nsPath('ratelimitpolicies'));
    expect(refused.status).toBe(401);
  });
});

describe('bearer tokens', () => {
  it('work exactly as before, with or without a client certificate', async () => {
    expect((await cp.client.call('GET', nsPath('ratelimitpolicies'))).status).toBe(200);
    expect((await call({ token: cp.adminToken }, 'POST', nsPath('ratelimitpolicies'), policy('by-token'))).status).toBe(201);
    // The front proxy's certificate alone names nobody: the token decides.
    expect((await call({ certificate: frontProxyClient, token: cp.adminToken }, 'GET', '/v1/whoami')).body).toEqual({ name: 'admin', role: 'admin' });
    expect((await call({ certificate: frontProxyClient }, 'GET', nsPath('ratelimitpolicies'))).status).toBe(401);
    expect(kubernetes.reviews).toEqual([]);
  });
});

describe('when the Kubernetes API cannot answer a SubjectAccessReview', () => {
  it('answers 503 saying so, and writes nothing (fail closed)', async () => {
    kubernetes.subjectAccessReviews = 'unavailable';
    kubernetes.accessRules = [{ allowed: true }];
    const refused = await call(frontProxy('carol'), 'POST', nsPath('ratelimitpolicies'), policy('by-carol'));
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', code: 503 });
    expect(refused.body.message).toContain('cannot authorize User "carol": the Kubernetes API could not be asked');
    expect((await cp.client.call('GET', nsPath('ratelimitpolicies', 'by-carol'))).status).toBe(404);
    expect(cp.logs.join('')).toContain('delegated authorization: the SubjectAccessReview failed');

    // Nothing was cached from the failure: once the API answers, the same request goes through.
    kubernetes.subjectAccessReviews = 'answer';
    expect((await call(frontProxy('carol'), 'POST', nsPath('ratelimitpolicies'), policy('by-carol'))).status).toBe(201);
  });
});

describe('readiness', () => {
  it('is ready once the front-proxy configuration has been read', async () => {
    const ready = await cp.client.call('GET', '/readyz');
    expect(ready.status).toBe(200);
  });

  it('is not ready, saying why, while a replica cannot read the ConfigMap, and ready once it can', async () => {
    const withoutRbac = await KubernetesAuthApiDouble.start();
    const otherDir = mkdtempSync(join(tmpdir(), 'portolan-delegation-readyz-'));
    let other: InProcessControlPlane | undefined;
    try {
      withoutRbac.authenticationConfigMap = kubernetes.authenticationConfigMap;
      withoutRbac.withheld.add('get configmaps');
      withoutRbac.writeKubeconfig(join(otherDir, 'kubeconfig'));
      other = await startInProcess({ PORTOLAN_KUBERNETES_AUTH: 'delegated', PORTOLAN_KUBECONFIG: join(otherDir, 'kubeconfig') });
      const pending = await eventually(
        () => other!.client.call('GET', '/readyz'),
        (response) => String(response.body).includes('cannot read ConfigMap'),
        'the failed read to be reported',
      );
      expect(pending.status).toBe(503);
      expect(pending.body).toContain('not ready: delegated authentication (PORTOLAN_KUBERNETES_AUTH=delegated) has not read ConfigMap kube-system/extension-apiserver-authentication yet');
      expect(pending.body).toContain('resources: ["configmaps"]');
      withoutRbac.withheld.delete('get configmaps');
      await eventually(() => other!.client.call('GET', '/readyz'), (response) => response.status === 200, 'the replica to become ready');
    } finally {
      await other?.stop();
      await withoutRbac.close();
      rmSync(otherDir, { recursive: true, force: true });
    }
  });
});

describe('the APIService', () => {
  it('gets the CA of the serving certificate as spec.caBundle', async () => {
    const caBundle = await eventually(
      async () => kubernetes.apiService(APISERVICE)!.spec.caBundle,
      (value) => value !== undefined,
      'the APIService to be patched',
    );
    expect(Buffer.from(caBundle as string, 'base64').toString('utf8')).toBe(cp.running.caPem);
    const patched = cp.logs.map((line) => JSON.parse(line)).find((line) => String(line.msg).startsWith('patched spec.caBundle'));
    expect(patched).toMatchObject({ level: 'info', apiService: APISERVICE });
    // The serving certificate names the Service kube-apiserver dials, so no error about it.
    expect(cp.logs.join('')).not.toContain('missingName');
  });
});
