/**
 * Server-side apply with the real kubectl against the real control plane process: field managers,
 * conflicts and --force-conflicts, fields a manager stops applying, kubectl's move of a
 * client-side-applied object to server-side apply, and `kubectl diff --server-side`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { nsPath } from './support/api-client';
import type { ControlPlaneProcess } from './support/control-plane-process';
import { startKubectlSession, stopKubectlSession, type KubectlSession } from './support/kubectl';


let session: KubectlSession;
let cp: ControlPlaneProcess;
let kubectl: KubectlSession['kubectl'];
let work: string;

beforeAll(async () => {
  session = await startKubectlSession('portolan-ssa-');
  ({ cp, kubectl, work } = session);
});

afterAll(() => stopKubectlSession(session));

/** Writes a manifest to a file of its own and returns the path, for `kubectl … -f`. */
function manifest(name: string, lines: string[]): string {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const limit = (name: string, requests: number, interval: string) => [`    - name: ${name}`, `      requests: ${requests}`, `      interval: ${interval}`];

const rateLimitPolicy = (limits: string[][]) => [
  'apiVersion: mesh.portolan.dev/v1alpha1',
  'kind: RateLimitPolicy',
  'metadata:',
  '  name: checkout-limits',
  '  labels:',
  '    team: payments',
  'spec:',
  '  targetRef:',
  '    kind: Service',
  '    name: checkout',
  '  limits:',
  ...limits.flat(),
];

const retryPolicy = (attempts: number) => [
  'apiVersion: mesh.portolan.dev/v1alpha1',
  'kind: RetryPolicy',
  'metadata:',
  '  name: checkout-retries',
  'spec:',
  '  targetRef:',
  '    kind: Service',
  '    name: checkout',
  `  attempts: ${attempts}`,
  '  retryOn: [gateway-error, reset]',
];

const stored = async (plural: string, name: string) => (await cp.client.call('GET', nsPath(plural, name))).body;

interface Entry {
  manager: string;
  operation: string;
  fieldsV1: any;
}
const entryOf = (object: { metadata: { managedFields?: Entry[] } }, manager: string) => object.metadata.managedFields?.find((entry) => entry.manager === manager);

describe('kubectl apply --server-side against Portolan', () => {
  it('creates the object, owned by the field manager that applied it', async () => {
    const result = await kubectl(['apply', '--server-side', '--field-manager=alice', '-f', manifest('alice', rateLimitPolicy([limit('per-second', 10, '1s')]))]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('ratelimitpolicy.mesh.portolan.dev/checkout-limits serverside-applied');
    const object = await stored('ratelimitpolicies', 'checkout-limits');
    expect(object.metadata.managedFields.map((entry: Entry) => [entry.manager, entry.operation])).toEqual([['alice', 'Apply']]);
    expect(entryOf(object, 'alice')!.fieldsV1['f:spec']['f:limits']['k:{"name":"per-second"}']).toEqual({ '.': {}, 'f:interval': {}, 'f:name': {}, 'f:requests': {} });
  });

  it('explains metadata.managedFields from the OpenAPI document', async () => {
    const result = await kubectl(['explain', 'rlp.metadata.managedFields']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('FIELD: managedFields <[]Object>');
    expect(result.stdout).toMatch(/fieldsV1\s+<Object> -required-/);
    expect(result.stdout).toMatch(/operation\s+<string> -required-/);
  });

  it('refuses another manager\'s change to alice\'s field, naming her and the field, and changes nothing', async () => {
    const before = await stored('ratelimitpolicies', 'checkout-limits');
    const result = await kubectl(['apply', '--server-side', '--field-manager=bob', '-f', manifest('bob', rateLimitPolicy([limit('per-second', 20, '1s')]))]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error: Apply failed with 1 conflict: conflict with "alice": .spec.limits[name="per-second"].requests');
    expect(result.stderr).toContain('--force-conflicts');
    const after = await stored('ratelimitpolicies', 'checkout-limits');
    expect(after.spec.limits[0].requests).toBe(10);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('takes the field with --force-conflicts: bob owns it, alice keeps the rest', async () => {
    const result = await kubectl(['apply', '--server-side', '--field-manager=bob', '--force-conflicts', '-f', join(work, 'bob.yaml')]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const shown = await kubectl(['get', 'ratelimitpolicy', 'checkout-limits', '-o', 'yaml', '--show-managed-fields']);
    const object = parse(shown.stdout);
    expect(object.spec.limits).toEqual([{ name: 'per-second', requests: 20, interval: '1s' }]);
    const item = (manager: string) => entryOf(object, manager)!.fieldsV1['f:spec']['f:limits']['k:{"name":"per-second"}'];
    expect(Object.keys(item('bob'))).toContain('f:requests');
    expect(Object.keys(item('alice')).sort()).toEqual(['.', 'f:interval', 'f:name']);
    expect(entryOf(object, 'alice')!.fieldsV1['f:metadata']).toEqual({ 'f:labels': { 'f:team': {} } });
    // Without the flag, kubectl leaves managedFields out, as it does for Kubernetes objects.
    expect(parse((await kubectl(['get', 'ratelimitpolicy', 'checkout-limits', '-o', 'yaml'])).stdout).metadata.managedFields).toBeUndefined();
  });

  it('removes a limit alice stops applying, since no one else applied it', async () => {
    const added = await kubectl(['apply', '--server-side', '--field-manager=alice', '-f', manifest('alice-two', rateLimitPolicy([limit('per-second', 20, '1s'), limit('per-minute', 600, '1m')]))]);
    expect(added.code).toBe(0);
    const names = async () => (await kubectl(['get', 'ratelimitpolicy', 'checkout-limits', '-o', 'jsonpath={.spec.limits[*].name}'])).stdout;
    expect(await names()).toBe('per-second per-minute');
    const dropped = await kubectl(['apply', '--server-side', '--field-manager=alice', '-f', manifest('alice-one', rateLimitPolicy([limit('per-second', 20, '1s')]))]);
    expect(dropped.stderr).toBe('');
    expect(dropped.code).toBe(0);
    expect(await names()).toBe('per-second');
  });

  it('refuses two limits with the same name, naming the second', async () => {
    const result = await kubectl(['apply', '--server-side', '--field-manager=alice', '-f', manifest('duplicate', rateLimitPolicy([limit('per-second', 20, '1s'), limit('per-second', 5, '1m')]))]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('spec.limits[1].name: Duplicate value: "per-second"');
    expect(await kubectl(['get', 'ratelimitpolicy', 'checkout-limits', '-o', 'jsonpath={.spec.limits[*].name}'])).toMatchObject({ stdout: 'per-second' });
  });

  it('moves a client-side-applied object to server-side apply, a changed value included, without a conflict', async () => {
    const created = await kubectl(['apply', '-f', manifest('retries', retryPolicy(3))]);
    expect(created.stdout.trim()).toBe('retrypolicy.mesh.portolan.dev/checkout-retries created');
    expect(entryOf(await stored('retrypolicies', 'checkout-retries'), 'kubectl-client-side-apply')).toMatchObject({ operation: 'Update' });

    const moved = await kubectl(['apply', '--server-side', '-f', manifest('retries-5', retryPolicy(5))]);
    expect(moved.stderr).toBe('');
    expect(moved.code).toBe(0);
    expect(moved.stdout.trim()).toBe('retrypolicy.mesh.portolan.dev/checkout-retries serverside-applied');
    const object = await stored('retrypolicies', 'checkout-retries');
    expect(object.spec.attempts).toBe(5);
    // kubectl rewrote managedFields: what client-side apply owned is now kubectl's, applied.
    expect(object.metadata.managedFields.map((entry: Entry) => entry.manager).sort()).toEqual(['kubectl', 'kubectl-last-applied']);
    expect(entryOf(object, 'kubectl')).toMatchObject({ operation: 'Apply', fieldsV1: { 'f:spec': { 'f:attempts': {} } } });
    // The server kept the last-applied annotation in step, so client-side apply still works from it.
    expect(JSON.parse(object.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).spec.attempts).toBe(5);
    const clientSide = await kubectl(['apply', '-f', join(work, 'retries-5.yaml')]);
    expect(clientSide.code).toBe(0);
    expect((await stored('retrypolicies', 'checkout-retries')).spec.attempts).toBe(5);
  });

  it('diffs a pending change with --server-side through a dry run, storing nothing', async () => {
    const before = await stored('retrypolicies', 'checkout-retries');
    const result = await kubectl(['diff', '--server-side', '-f', manifest('retries-7', retryPolicy(7))]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^-  attempts: 5$/m);
    expect(result.stdout).toMatch(/^\+  attempts: 7$/m);
    const after = await stored('retrypolicies', 'checkout-retries');
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(after.spec.attempts).toBe(5);
  });
});

describe('field ownership through the API', () => {
  const path = nsPath('ratelimitpolicies', 'checkout-limits');
  const config = { apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'RateLimitPolicy', metadata: { name: 'checkout-limits' }, spec: { scope: 'mesh' } };

  it('requires a fieldManager for an apply, as kube-apiserver does', async () => {
    const answer = await cp.client.call('PATCH', path, config, 'application/apply-patch+yaml');
    expect(answer.status).toBe(422);
    expect(answer.body.message).toBe('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
  });

  it('names the manager of a write without fieldManager after its User-Agent', async () => {
    const answer = await cp.client.call('PATCH', path, { spec: { onLimit: { statusCode: 503 } } }, 'application/merge-patch+json', { 'user-agent': 'curl/8.5.0' });
    expect(answer.status).toBe(200);
    expect(entryOf(answer.body, 'curl')).toMatchObject({ operation: 'Update', fieldsV1: { 'f:spec': { 'f:onLimit': { 'f:statusCode': {} } } } });
  });

  it('forgets managedFields a client empties; the next apply then conflicts with before-first-apply', async () => {
    const reset = await cp.client.call('PATCH', path, [{ op: 'replace', path: '/metadata/managedFields', value: [] }], 'application/json-patch+json');
    expect(reset.status).toBe(200);
    expect(reset.body.metadata.managedFields).toBeUndefined();
    const result = await kubectl(['apply', '--server-side', '--field-manager=carol', '-f', manifest('carol', rateLimitPolicy([limit('per-second', 30, '1s')]))]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Apply failed with 1 conflict: conflict with "before-first-apply" using mesh.portolan.dev/v1alpha1: .spec.limits[name="per-second"].requests');
  });
});
