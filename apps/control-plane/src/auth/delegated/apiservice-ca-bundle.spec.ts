/**
 * The APIService's caBundle against a Kubernetes API double, through the real client: patched with
 * the serving CA, left alone when current, and when RBAC or the API is missing, a log line that
 * says which permission to grant, then retries that succeed once it is granted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiServiceCaBundle } from './apiservice-ca-bundle';
import { KubernetesDelegationClient } from './kubernetes-client';
import { KubernetesAuthApiDouble } from './testing/kubernetes-auth-api-double';
import { testCertificateAuthority } from './testing/test-certificates';

const NAME = 'v1alpha1.mesh.portolan.dev';
const ca = testCertificateAuthority('Portolan control plane CA');
const serving = { caPem: ca.certPem, names: ['localhost', '127.0.0.1', 'portolan-control-plane.portolan.svc'] };
const base64 = (pem: string) => Buffer.from(pem).toString('base64');

let double: KubernetesAuthApiDouble;
let dir: string;
let client: KubernetesDelegationClient;
let logs: Array<Record<string, any>>;
let reconciler: ApiServiceCaBundle | undefined;

function logger() {
  logs = [];
  return pino({ level: 'debug' }, new Writable({ write: (chunk, _encoding, done) => (logs.push(JSON.parse(String(chunk))), done()) }));
}

beforeEach(async () => {
  double = await KubernetesAuthApiDouble.start();
  dir = mkdtempSync(join(tmpdir(), 'portolan-apiservice-'));
  double.writeKubeconfig(join(dir, 'kubeconfig'));
  client = KubernetesDelegationClient.connect({ kubeconfigFile: join(dir, 'kubeconfig') });
});
afterEach(async () => {
  reconciler?.close();
  reconciler = undefined;
  await double.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the APIService caBundle', () => {
  it('is patched (merge patch) with the CA that signs the serving certificate, and logged', async () => {
    double.addApiService(NAME, { service: { namespace: 'portolan', name: 'portolan-control-plane' } });
    reconciler = new ApiServiceCaBundle(client, NAME, serving, logger());
    await reconciler.start();
    expect(double.apiService(NAME)!.spec.caBundle).toBe(base64(ca.certPem));
    expect(double.requests.filter((request) => request.method === 'PATCH')).toEqual([
      { method: 'PATCH', path: `/apis/apiregistration.k8s.io/v1/apiservices/${NAME}`, contentType: 'application/merge-patch+json', body: { spec: { caBundle: base64(ca.certPem) } } },
    ]);
    expect(logs.find((line) => line.msg.startsWith('patched spec.caBundle'))).toMatchObject({ level: 30, apiService: NAME, previousCaFingerprint: null });
  });

  it('is left alone when it already holds that CA', async () => {
    double.addApiService(NAME, { service: { namespace: 'portolan', name: 'portolan-control-plane' }, caBundle: base64(ca.certPem) });
    reconciler = new ApiServiceCaBundle(client, NAME, serving, logger());
    await reconciler.start();
    expect(double.requests.map((request) => request.method)).toEqual(['GET']);
  });

  it('replaces another CA', async () => {
    const old = testCertificateAuthority('old CA');
    double.addApiService(NAME, { service: { namespace: 'portolan', name: 'portolan-control-plane' }, caBundle: base64(old.certPem) });
    reconciler = new ApiServiceCaBundle(client, NAME, serving, logger());
    await reconciler.start();
    expect(double.apiService(NAME)!.spec.caBundle).toBe(base64(ca.certPem));
    expect(logs.find((line) => line.msg.startsWith('patched'))!.msg).toContain('it held another CA');
  });

  it('says which permission is missing when RBAC refuses the patch, and patches once it is granted', async () => {
    double.addApiService(NAME, { service: { namespace: 'portolan', name: 'portolan-control-plane' } });
    double.withheld.add('patch apiservices');
    reconciler = new ApiServiceCaBundle(client, NAME, serving, logger(), { firstRetryMs: 50 });
    await reconciler.start();
    const failure = logs.find((line) => line.level === 50)!;
    expect(failure).toMatchObject({ apiService: NAME, missingPermission: { verb: 'patch', resource: 'apiservices', group: 'apiregistration.k8s.io', name: NAME } });
    expect(failure.msg).toContain(`grant the control plane's service account patch on apiservices.apiregistration.k8s.io named ${NAME}`);
    expect(failure.err.message).toContain('User "system:serviceaccount:portolan:portolan-control-plane" cannot patch resource "apiservices"');
    double.withheld.delete('patch apiservices');
    await vi.waitFor(() => expect(double.apiService(NAME)!.spec.caBundle).toBe(base64(ca.certPem)), { timeout: 5000, interval: 20 });
  });

  it('retries with backoff while the APIService does not exist yet, and never throws', async () => {
    reconciler = new ApiServiceCaBundle(client, NAME, serving, logger(), { firstRetryMs: 40 });
    await reconciler.start();
    expect(logs.find((line) => line.level === 50)!.msg).toContain(`create APIService ${NAME} (the deploy manifests do), or correct PORTOLAN_APISERVICE_NAME`);
    await vi.waitFor(() => expect(logs.filter((line) => line.level === 50).length).toBeGreaterThanOrEqual(3), { timeout: 5000, interval: 20 });
    const retries = logs.filter((line) => line.level === 50).map((line) => line.retryInMs);
    expect(retries.slice(0, 3)).toEqual([40, 80, 160]);
    double.addApiService(NAME, { service: { namespace: 'portolan', name: 'portolan-control-plane' } });
    await vi.waitFor(() => expect(double.apiService(NAME)!.spec.caBundle).toBe(base64(ca.certPem)), { timeout: 10_000, interval: 20 });
  });

  it('reports a serving certificate that lacks the Service name kube-apiserver dials', async () => {
    double.addApiService(NAME, { service: { namespace: 'mesh-system', name: 'portolan' } });
    reconciler = new ApiServiceCaBundle(client, NAME, serving, logger());
    await reconciler.start();
    expect(logs.find((line) => line.missingName)).toMatchObject({ level: 50, missingName: 'portolan.mesh-system.svc', msg: expect.stringContaining('add portolan.mesh-system.svc to PORTOLAN_TLS_SANS') });
  });
});
