/**
 * The Kubernetes scaler against a stand-in API server (testing/kubernetes-api-double.ts), and
 * against the real kubectl: the scale request the scaler sends must be the very request
 * `kubectl scale` sends, so that whatever lets an operator run `kubectl scale` lets the
 * autoscaler scale.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KubernetesConnectionError } from '../../kubernetes-api/kubernetes-connection';
import { KubernetesApiDouble, type RecordedRequest } from '../testing/kubernetes-api-double';
import { KubernetesScaler } from './kubernetes-scaler';
import { ScalerError, type ScaleTarget } from './scaler';

const KUBECTL = '/usr/bin/kubectl';

/** Fails (never skips) without kubectl: the point of these tests is agreeing with the real one. */
function requireKubectl(): void {
  if (!existsSync(KUBECTL)) throw new Error(`${KUBECTL} is missing: these tests compare the scaler's requests with the real kubectl's; install kubectl (the Google Cloud SDK's, as on the CI machines)`);
}

const EDGE_ZONE_A: ScaleTarget = { policy: 'default/x', pool: 'edge', zone: 'zone-a', workload: { kind: 'Deployment', name: 'edge-zone-a', namespace: 'portolan' } };

/** The parts of a request that make it the same request to an API server. */
function essence(request: RecordedRequest) {
  return { method: request.method, path: request.path, contentType: request.contentType, body: request.body, rawBody: request.rawBody };
}

/** What a rejected promise was, for `toThrow`-style checks that also want the class. */
async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure, but the call succeeded');
}

let double: KubernetesApiDouble;
let dir: string;
let kubeconfigFile: string;

beforeEach(async () => {
  double = await KubernetesApiDouble.start();
  dir = mkdtempSync(join(tmpdir(), 'portolan-kubernetes-scaler-'));
  kubeconfigFile = join(dir, 'kubeconfig');
  double.writeKubeconfig(kubeconfigFile);
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await double?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs the real kubectl against the double, with a HOME and cache of its own so nothing from another run (discovery, the dispatcher's version probe) is reused. */
function kubectl(args: string[]): Promise<{ stdout: string; stderr: string }> {
  requireKubectl();
  return new Promise((resolve, reject) => {
    execFile(
      KUBECTL,
      ['--kubeconfig', kubeconfigFile, '--cache-dir', join(dir, 'kube-cache'), ...args],
      { env: { ...process.env, HOME: dir, KUBECONFIG: '' }, timeout: 60_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`kubectl ${args.join(' ')} failed: ${error.message}\n${stderr}`)) : resolve({ stdout, stderr })),
    );
  });
}

// A test of its own, so that a machine without kubectl shows a failed test saying what to install.
it('has the real kubectl to compare with', () => {
  requireKubectl();
});

describe('KubernetesScaler.scale sends what kubectl scale sends', () => {
  it.each([
    { kind: 'Deployment' as const, resource: 'deployments', name: 'edge-zone-a', kubectlName: 'deployment.apps/edge-zone-a' },
    { kind: 'StatefulSet' as const, resource: 'statefulsets', name: 'edge-zone-b', kubectlName: 'statefulset.apps/edge-zone-b' },
  ])('$kind', async ({ kind, resource, name, kubectlName }) => {
    double.addWorkload({ kind, namespace: 'portolan', name, replicas: 2 });
    const { stdout } = await kubectl(['scale', `${resource.slice(0, -1)}/${name}`, '--replicas=4', '-n', 'portolan']);
    expect(stdout.trim()).toBe(`${kubectlName} scaled`);
    expect(double.replicas(kind, 'portolan', name)).toBe(4);
    const kubectlScaleRequests = double.scaleRequests();
    expect(kubectlScaleRequests).toHaveLength(1);
    const [fromKubectl] = kubectlScaleRequests;
    expect(essence(fromKubectl)).toEqual({
      method: 'PATCH',
      path: `/apis/apps/v1/namespaces/portolan/${resource}/${name}/scale`,
      contentType: 'application/merge-patch+json',
      body: { spec: { replicas: 4 } },
      rawBody: '{"spec":{"replicas":4}}',
    });

    // The same starting point for the scaler: back to 2 replicas, and a clean request log.
    double.addWorkload({ kind, namespace: 'portolan', name, replicas: 2 });
    double.requests.splice(0);
    const scaler = KubernetesScaler.fromSettings({ kubeconfigFile });
    const result = await scaler.scale({ policy: 'default/x', pool: 'edge', workload: { kind, name, namespace: 'portolan' } }, 4);

    const patches = double.scaleRequests().filter((request) => request.method === 'PATCH');
    expect(patches).toHaveLength(1);
    expect(essence(patches[0])).toEqual(essence(fromKubectl));
    expect(double.replicas(kind, 'portolan', name)).toBe(4);
    expect(result).toEqual({ replicas: 4, message: `${kind} portolan/${name} scaled from 2 to 4 replicas` });
    // And kubectl sees the count the scaler set.
    expect((await kubectl(['get', `${resource.slice(0, -1)}/${name}`, '-n', 'portolan', '-o', 'jsonpath={.spec.replicas}'])).stdout).toBe('4');
  });
});

describe('KubernetesScaler', () => {
  it('answers spec.replicas of the Scale (what the HPA calls currentReplicas), not the Pods running', async () => {
    double.addWorkload({ kind: 'Deployment', namespace: 'portolan', name: 'edge-zone-a', replicas: 3, runningReplicas: 1 });
    const scaler = KubernetesScaler.fromSettings({ kubeconfigFile });
    expect(scaler.type).toBe('Kubernetes');
    expect(await scaler.current(EDGE_ZONE_A)).toBe(3);
    expect(double.requests.map(({ method, path }) => `${method} ${path}`)).toEqual(['GET /apis/apps/v1/namespaces/portolan/deployments/edge-zone-a/scale']);
  });

  it('reads a workload scaled to zero as 0 (the API omits spec.replicas then)', async () => {
    double.addWorkload({ kind: 'StatefulSet', namespace: 'portolan', name: 'edge-zone-b', replicas: 0 });
    const scaler = KubernetesScaler.fromSettings({ kubeconfigFile });
    expect(await scaler.current({ policy: 'default/x', pool: 'edge', workload: { kind: 'StatefulSet', name: 'edge-zone-b', namespace: 'portolan' } })).toBe(0);
    expect(double.requests.at(-1)?.path).toBe('/apis/apps/v1/namespaces/portolan/statefulsets/edge-zone-b/scale');
  });

  it('sends no patch when the workload already has the count', async () => {
    double.addWorkload({ kind: 'Deployment', namespace: 'portolan', name: 'edge-zone-a', replicas: 4 });
    const result = await KubernetesScaler.fromSettings({ kubeconfigFile }).scale(EDGE_ZONE_A, 4);
    expect(result).toEqual({ replicas: 4, message: 'Deployment portolan/edge-zone-a already has 4 replicas' });
    expect(double.requests.filter((request) => request.method === 'PATCH')).toEqual([]);
  });

  it("takes a policy's missing namespace from the kubeconfig context", async () => {
    double.writeKubeconfig(kubeconfigFile, 'portolan');
    double.addWorkload({ kind: 'Deployment', namespace: 'portolan', name: 'edge-zone-a', replicas: 2 });
    const scaler = KubernetesScaler.fromSettings({ kubeconfigFile });
    expect(scaler.defaultNamespace).toBe('portolan');
    const result = await scaler.scale({ policy: 'default/x', pool: 'edge', workload: { kind: 'Deployment', name: 'edge-zone-a' } }, 5);
    expect(result.message).toBe('Deployment portolan/edge-zone-a scaled from 2 to 5 replicas');
    expect(double.scaleRequests().map(({ method, path }) => `${method} ${path}`)).toEqual([
      'GET /apis/apps/v1/namespaces/portolan/deployments/edge-zone-a/scale',
      'PATCH /apis/apps/v1/namespaces/portolan/deployments/edge-zone-a/scale',
    ]);
  });

  it("uses namespace default when the context names none (and says so when the workload is not there)", async () => {
    const scaler = KubernetesScaler.fromSettings({ kubeconfigFile });
    expect(scaler.defaultNamespace).toBe('default');
    const failure = await failureOf(scaler.current({ policy: 'default/x', pool: 'edge', workload: { kind: 'Deployment', name: 'edge-zone-a' } }));
    expect(failure).toBeInstanceOf(ScalerError);
    expect(failure.message).toContain('Deployment default/edge-zone-a not found (spec.scaler.kubernetes of AutoscalePolicy default/x)');
    expect(failure.message).toContain(`the namespace is Kubernetes' default, as kubeconfig context "portolan-double" sets no namespace`);
  });

  it('reads KUBECONFIG when no kubeconfig file is configured', async () => {
    vi.stubEnv('KUBECONFIG', kubeconfigFile);
    double.addWorkload({ kind: 'Deployment', namespace: 'portolan', name: 'edge-zone-a', replicas: 2 });
    const scaler = KubernetesScaler.fromSettings();
    expect(scaler.server).toBe(double.url);
    expect(await scaler.current(EDGE_ZONE_A)).toBe(2);
  });

  it('says where it looked when there is no kubeconfig at all', () => {
    vi.stubEnv('KUBECONFIG', '');
    vi.stubEnv('HOME', dir);
    // Holds unless the tests run in a pod, where the service account would be found.
    expect(existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')).toBe(false);
    expect(() => KubernetesScaler.fromSettings()).toThrow(
      new KubernetesConnectionError(
        'no kubeconfig found: KUBECONFIG is unset, ~/.kube/config does not exist, and this is not a pod with a service account token; set PORTOLAN_KUBECONFIG (or KUBECONFIG) to a kubeconfig file',
      ),
    );
  });

  it('names a kubeconfig file it cannot read', () => {
    const missing = join(dir, 'nope');
    expect(() => KubernetesScaler.fromSettings({ kubeconfigFile: missing })).toThrow(KubernetesConnectionError);
    expect(() => KubernetesScaler.fromSettings({ kubeconfigFile: missing })).toThrow(`cannot read PORTOLAN_KUBECONFIG ${missing}: ENOENT`);
  });

  it('explains at once that a plain-http cluster needs insecure-skip-tls-verify', () => {
    const config = JSON.parse(readFileSync(kubeconfigFile, 'utf8'));
    delete config.clusters[0].cluster['insecure-skip-tls-verify'];
    writeFileSync(kubeconfigFile, JSON.stringify(config));
    expect(() => KubernetesScaler.fromSettings({ kubeconfigFile })).toThrow(
      `cluster "portolan-double" in kubeconfig ${kubeconfigFile} is served over plain http (${double.url}); the Kubernetes client only talks to an http server when the cluster sets insecure-skip-tls-verify: true`,
    );
  });

  it('names the workload and the policy field when the workload does not exist', async () => {
    const failure = await failureOf(KubernetesScaler.fromSettings({ kubeconfigFile }).scale(EDGE_ZONE_A, 4));
    expect(failure).toBeInstanceOf(ScalerError);
    expect(failure.message).toBe(
      `Deployment portolan/edge-zone-a not found (spec.scaler.kubernetes of AutoscalePolicy default/x) on Kubernetes API server ${double.url} (kubeconfig ${kubeconfigFile}): correct the kind, name or namespace, or create the workload`,
    );
  });

  it('names the verb, the resource, the service account and the missing RBAC rule on 403, with commands that create it', async () => {
    double.addWorkload({ kind: 'Deployment', namespace: 'portolan', name: 'edge-zone-a', replicas: 2 });
    // A Role that grants get but not patch: reading works, scaling does not.
    double.forbid = ['patch'];
    const scaler = KubernetesScaler.fromSettings({ kubeconfigFile });
    expect(await scaler.current(EDGE_ZONE_A)).toBe(2);
    const failure = await failureOf(scaler.scale(EDGE_ZONE_A, 4));
    expect(failure).toBeInstanceOf(ScalerError);
    expect(failure.message).toContain(`Kubernetes API server ${double.url} (kubeconfig ${kubeconfigFile}) forbids User "system:serviceaccount:portolan:portolan-control-plane" to patch deployments/scale in API group apps in namespace portolan while scaling Deployment portolan/edge-zone-a (AutoscalePolicy default/x)`);
    expect(failure.message).toContain('Missing RBAC rule: a Role in namespace portolan (or a ClusterRole) with apiGroups: ["apps"], resources: ["deployments/scale"], verbs: ["get", "patch"]');
    expect(double.replicas('Deployment', 'portolan', 'edge-zone-a')).toBe(2);

    // The suggested commands are real kubectl commands that make that rule.
    const commands = failure.message.slice(failure.message.indexOf('kubectl create role')).split(' && ');
    expect(commands).toEqual([
      'kubectl create role portolan-autoscaler -n portolan --verb=get,patch --resource=deployments.apps/scale',
      'kubectl create rolebinding portolan-autoscaler -n portolan --role=portolan-autoscaler --serviceaccount=portolan:portolan-control-plane',
    ]);
    const role = await kubectl([...commands[0].split(' ').slice(1), '--dry-run=client', '-o', 'json']);
    expect(JSON.parse(role.stdout).rules).toEqual([{ apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['get', 'patch'] }]);
    const binding = await kubectl([...commands[1].split(' ').slice(1), '--dry-run=client', '-o', 'json']);
    expect(JSON.parse(binding.stdout).subjects).toEqual([{ kind: 'ServiceAccount', name: 'portolan-control-plane', namespace: 'portolan' }]);
  });

  it('names the get verb and statefulsets/scale when reading is forbidden', async () => {
    double.addWorkload({ kind: 'StatefulSet', namespace: 'portolan', name: 'edge-zone-b', replicas: 2 });
    double.forbid = true;
    const failure = await failureOf(KubernetesScaler.fromSettings({ kubeconfigFile }).current({ policy: 'default/x', pool: 'edge', workload: { kind: 'StatefulSet', name: 'edge-zone-b', namespace: 'portolan' } }));
    expect(failure).toBeInstanceOf(ScalerError);
    expect(failure.message).toContain('forbids User "system:serviceaccount:portolan:portolan-control-plane" to get statefulsets/scale in API group apps in namespace portolan');
    expect(failure.message).toContain('resources: ["statefulsets/scale"], verbs: ["get", "patch"]');
    expect(failure.message).toContain('--resource=statefulsets.apps/scale');
  });

  it('names the API server URL when nothing listens there', async () => {
    const url = double.url;
    await double.close();
    const failure = await failureOf(KubernetesScaler.fromSettings({ kubeconfigFile }).current(EDGE_ZONE_A));
    expect(failure).toBeInstanceOf(ScalerError);
    expect(failure.message).toBe(
      `Kubernetes API server ${url} (kubeconfig ${kubeconfigFile}) refused the connection (ECONNREFUSED) while reading the scale of Deployment portolan/edge-zone-a for AutoscalePolicy default/x: check that the API server runs at that address, or correct the server URL in the kubeconfig`,
    );
  });

  it('gives up on an API server that does not answer', async () => {
    double.addWorkload({ kind: 'Deployment', namespace: 'portolan', name: 'edge-zone-a', replicas: 2 });
    double.stall = true;
    const started = Date.now();
    const failure = await failureOf(KubernetesScaler.fromSettings({ kubeconfigFile, requestTimeoutMs: 300 }).scale(EDGE_ZONE_A, 4));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(failure).toBeInstanceOf(ScalerError);
    expect(failure.message).toBe(
      `Kubernetes API server ${double.url} (kubeconfig ${kubeconfigFile}) did not answer within 0.3 s while reading the scale of Deployment portolan/edge-zone-a for AutoscalePolicy default/x; the request was abandoned. Check that the API server is healthy and reachable from the control plane`,
    );
  });

  it('refuses a policy without spec.scaler.kubernetes, and counts that are not replica counts', async () => {
    const scaler = KubernetesScaler.fromSettings({ kubeconfigFile });
    await expect(scaler.current({ policy: 'default/x', pool: 'edge' })).rejects.toThrow(
      new ScalerError('AutoscalePolicy default/x uses the Kubernetes scaler but has no spec.scaler.kubernetes: name the Deployment or StatefulSet whose replicas it sets'),
    );
    await expect(scaler.scale(EDGE_ZONE_A, 2.5)).rejects.toThrow(
      new ScalerError('cannot scale Deployment portolan/edge-zone-a (AutoscalePolicy default/x) to 2.5 replicas: the count must be a whole number from 0 to 2147483647'),
    );
    await expect(scaler.scale(EDGE_ZONE_A, -1)).rejects.toThrow(ScalerError);
    expect(double.requests).toEqual([]);
  });
});
