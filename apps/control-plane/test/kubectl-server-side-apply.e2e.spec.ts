/**
 * Server-side apply with the real kubectl against the real control plane process: field managers,
 * conflicts and --force-conflicts, fields a manager stops applying, kubectl's move of a
 * client-side-applied object to server-side apply, and `kubectl diff --server-side`. Every test
 * sets up the objects and files it needs under names of its own, so each runs alone or in any order.
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
function manifest(file: string, lines: string[]): string {
  const path = join(work, `${file}.yaml`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const limit = (name: string, requests: number, interval: string) => [`    - name: ${name}`, `      requests: ${requests}`, `      interval: ${interval}`];

const rateLimitPolicy = (name: string, limits: string[][]) => [
  'apiVersion: mesh.portolan.dev/v1alpha1',
  'kind: RateLimitPolicy',
  'metadata:',
  `  name: ${name}`,
  '  labels:',
  '    team: payments',
  'spec:',
  '  targetRef:',
  '    kind: Service',
  '    name: checkout',
  '  limits:',
  ...limits.flat(),
];

const retryPolicy = (name: string, attempts: number) => [
  'apiVersion: mesh.portolan.dev/v1alpha1',
  'kind: RetryPolicy',
  'metadata:',
  `  name: ${name}`,
  'spec:',
  '  targetRef:',
  '    kind: Service',
  '    name: checkout',
  `  attempts: ${attempts}`,
  '  retryOn: [gateway-error, reset]',
];

const stored = async (plural: string, name: string) => (await cp.client.call('GET', nsPath(plural, name))).body;

/** `kubectl apply --server-side` that must succeed; `args` come before `-f`. */
async function applyServerSide(file: string, args: string[]) {
  const result = await kubectl(['apply', '--server-side', ...args, '-f', file]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result;
}

interface Entry {
  manager: string;
  operation: string;
  fieldsV1: any;
}
const entryOf = (object: { metadata: { managedFields?: Entry[] } }, manager: string) => object.metadata.managedFields?.find((entry) => entry.manager === manager);

describe('kubectl apply --server-side against Portolan', () => {
  it('creates the object, owned by the field manager that applied it', async () => {
    const result = await applyServerSide(manifest('created', rateLimitPolicy('created-limits', [limit('per-second', 10, '1s')])), ['--field-manager=alice']);
    expect(result.stdout.trim()).toBe('ratelimitpolicy.mesh.portolan.dev/created-limits serverside-applied');
    const object = await stored('ratelimitpolicies', 'created-limits');
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
    await applyServerSide(manifest('conflict-alice', rateLimitPolicy('conflict-limits', [limit('per-second', 10, '1s')])), ['--field-manager=alice']);
    const before = await stored('ratelimitpolicies', 'conflict-limits');
    const result = await kubectl(['apply', '--server-side', '--field-manager=bob', '-f', manifest('conflict-bob', rateLimitPolicy('conflict-limits', [limit('per-second', 20, '1s')]))]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error: Apply failed with 1 conflict: conflict with "alice": .spec.limits[name="per-second"].requests');
    expect(result.stderr).toContain('--force-conflicts');
    const after = await stored('ratelimitpolicies', 'conflict-limits');
    expect(after.spec.limits[0].requests).toBe(10);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('takes the field with --force-conflicts: bob owns it, alice keeps the rest', async () => {
    await applyServerSide(manifest('forced-alice', rateLimitPolicy('forced-limits', [limit('per-second', 10, '1s')])), ['--field-manager=alice']);
    await applyServerSide(manifest('forced-bob', rateLimitPolicy('forced-limits', [limit('per-second', 20, '1s')])), ['--field-manager=bob', '--force-conflicts']);
    const shown = await kubectl(['get', 'ratelimitpolicy', 'forced-limits', '-o', 'yaml', '--show-managed-fields']);
    const object = parse(shown.stdout);
    expect(object.spec.limits).toEqual([{ name: 'per-second', requests: 20, interval: '1s' }]);
    const item = (manager: string) => entryOf(object, manager)!.fieldsV1['f:spec']['f:limits']['k:{"name":"per-second"}'];
    expect(Object.keys(item('bob'))).toContain('f:requests');
    expect(Object.keys(item('alice')).sort()).toEqual(['.', 'f:interval', 'f:name']);
    expect(entryOf(object, 'alice')!.fieldsV1['f:metadata']).toEqual({ 'f:labels': { 'f:team': {} } });
    // Without the flag, kubectl leaves managedFields out, as it does for Kubernetes objects.
    expect(parse((await kubectl(['get', 'ratelimitpolicy', 'forced-limits', '-o', 'yaml'])).stdout).metadata.managedFields).toBeUndefined();
  });

  it('removes a limit alice stops applying, since no one else applied it', async () => {
    await applyServerSide(manifest('dropped-two', rateLimitPolicy('dropped-limits', [limit('per-second', 20, '1s'), limit('per-minute', 600, '1m')])), ['--field-manager=alice']);
    const names = async () => (await kubectl(['get', 'ratelimitpolicy', 'dropped-limits', '-o', 'jsonpath={.spec.limits[*].name}'])).stdout;
    expect(await names()).toBe('per-second per-minute');
    await applyServerSide(manifest('dropped-one', rateLimitPolicy('dropped-limits', [limit('per-second', 20, '1s')])), ['--field-manager=alice']);
    expect(await names()).toBe('per-second');
  });

  it('refuses two limits with the same name, naming the second', async () => {
    await applyServerSide(manifest('duplicate-one', rateLimitPolicy('duplicate-limits', [limit('per-second', 20, '1s')])), ['--field-manager=alice']);
    const result = await kubectl(['apply', '--server-side', '--field-manager=alice', '-f', manifest('duplicate', rateLimitPolicy('duplicate-limits', [limit('per-second', 20, '1s'), limit('per-second', 5, '1m')]))]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('spec.limits[1].name: Duplicate value: "per-second"');
    expect(await kubectl(['get', 'ratelimitpolicy', 'duplicate-limits', '-o', 'jsonpath={.spec.limits[*].name}'])).toMatchObject({ stdout: 'per-second' });
  });

  it('refuses a limit without a name, telling the user to name it, rather than replacing every limit', async () => {
    await applyServerSide(manifest('unnamed-alice', rateLimitPolicy('unnamed-limits', [limit('per-second', 20, '1s'), limit('per-minute', 600, '1m')])), ['--field-manager=alice']);
    const unnamed = rateLimitPolicy('unnamed-limits', [['    - requests: 5', '      interval: 1s']]);
    const result = await kubectl(['apply', '--server-side', '--field-manager=bob', '-f', manifest('unnamed-bob', unnamed)]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('spec.limits[0].name: Required value: name each limit (e.g. per-second); limits are merged by name');
    expect(await kubectl(['get', 'ratelimitpolicy', 'unnamed-limits', '-o', 'jsonpath={.spec.limits[*].name}'])).toMatchObject({ stdout: 'per-second per-minute' });
  });

  it('moves a client-side-applied object to server-side apply, a changed value included, without a conflict', async () => {
    const created = await kubectl(['apply', '-f', manifest('moved-3', retryPolicy('moved-retries', 3))]);
    expect(created.stdout.trim()).toBe('retrypolicy.mesh.portolan.dev/moved-retries created');
    expect(entryOf(await stored('retrypolicies', 'moved-retries'), 'kubectl-client-side-apply')).toMatchObject({ operation: 'Update' });

    const moved = await applyServerSide(manifest('moved-5', retryPolicy('moved-retries', 5)), []);
    expect(moved.stdout.trim()).toBe('retrypolicy.mesh.portolan.dev/moved-retries serverside-applied');
    const object = await stored('retrypolicies', 'moved-retries');
    expect(object.spec.attempts).toBe(5);
    // kubectl rewrote managedFields: what client-side apply owned is now kubectl's, applied.
    expect(object.metadata.managedFields.map((entry: Entry) => entry.manager).sort()).toEqual(['kubectl', 'kubectl-last-applied']);
    expect(entryOf(object, 'kubectl')).toMatchObject({ operation: 'Apply', fieldsV1: { 'f:spec': { 'f:attempts': {} } } });
    // The server kept the last-applied annotation in step, so client-side apply still works from it.
    expect(JSON.parse(object.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).spec.attempts).toBe(5);
    const clientSide = await kubectl(['apply', '-f', join(work, 'moved-5.yaml')]);
    expect(clientSide.code).toBe(0);
    expect((await stored('retrypolicies', 'moved-retries')).spec.attempts).toBe(5);
  });

  it('diffs a pending change with --server-side through a dry run, storing nothing', async () => {
    await applyServerSide(manifest('diffed-5', retryPolicy('diffed-retries', 5)), []);
    const before = await stored('retrypolicies', 'diffed-retries');
    const result = await kubectl(['diff', '--server-side', '-f', manifest('diffed-7', retryPolicy('diffed-retries', 7))]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^-  attempts: 5$/m);
    expect(result.stdout).toMatch(/^\+  attempts: 7$/m);
    const after = await stored('retrypolicies', 'diffed-retries');
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(after.spec.attempts).toBe(5);
  });

  it('an unchanged manifest diffs clean: exit 0, server-side and client-side', async () => {
    const serverSide = manifest('unchanged-ssa', retryPolicy('unchanged-ssa-retries', 4));
    await applyServerSide(serverSide, []);
    expect(await kubectl(['diff', '--server-side', '-f', serverSide])).toEqual({ code: 0, stdout: '', stderr: '' });

    const clientSide = manifest('unchanged-csa', retryPolicy('unchanged-csa-retries', 4));
    expect((await kubectl(['apply', '-f', clientSide])).code).toBe(0);
    expect(await kubectl(['diff', '-f', clientSide])).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});

describe('field ownership through the API', () => {
  const config = (name: string) => ({ apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'RateLimitPolicy', metadata: { name }, spec: { targetRef: { kind: 'Mesh' }, limits: [{ name: 'per-second', requests: 10, interval: '1s' }] } });

  it('requires a fieldManager for an apply, as kube-apiserver does', async () => {
    const answer = await cp.client.call('PATCH', nsPath('ratelimitpolicies', 'unmanaged-limits'), config('unmanaged-limits'), 'application/apply-patch+yaml');
    expect(answer.status).toBe(422);
    expect(answer.body.message).toBe('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
  });

  it('names the manager of a write without fieldManager after its User-Agent', async () => {
    const path = nsPath('ratelimitpolicies', 'agent-limits');
    expect((await cp.client.call('PATCH', `${path}?fieldManager=alice`, config('agent-limits'), 'application/apply-patch+yaml')).status).toBe(201);
    const answer = await cp.client.call('PATCH', path, { spec: { onLimit: { statusCode: 503 } } }, 'application/merge-patch+json', { 'user-agent': 'curl/8.5.0' });
    expect(answer.status).toBe(200);
    expect(entryOf(answer.body, 'curl')).toMatchObject({ operation: 'Update', fieldsV1: { 'f:spec': { 'f:onLimit': { 'f:statusCode': {} } } } });
  });

  it('forgets managedFields a client empties; the next apply then conflicts with before-first-apply', async () => {
    const path = nsPath('ratelimitpolicies', 'reset-limits');
    await applyServerSide(manifest('reset-alice', rateLimitPolicy('reset-limits', [limit('per-second', 10, '1s')])), ['--field-manager=alice']);
    const reset = await cp.client.call('PATCH', path, [{ op: 'replace', path: '/metadata/managedFields', value: [] }], 'application/json-patch+json');
    expect(reset.status).toBe(200);
    expect(reset.body.metadata.managedFields).toBeUndefined();
    const result = await kubectl(['apply', '--server-side', '--field-manager=carol', '-f', manifest('reset-carol', rateLimitPolicy('reset-limits', [limit('per-second', 30, '1s')]))]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Apply failed with 1 conflict: conflict with "before-first-apply" using mesh.portolan.dev/v1alpha1: .spec.limits[name="per-second"].requests');
  });

  it.each([
    ['fieldManager given twice', '?fieldManager=alice&fieldManager=bob', 'query parameter fieldManager: give it once'],
    ['force given twice', '?fieldManager=alice&force=true&force=false', 'query parameter force: give it once'],
  ])('answers 400, not 500, to %s', async (_name, query, message) => {
    const answer = await cp.client.call('PATCH', `${nsPath('ratelimitpolicies', 'twice-limits')}${query}`, config('twice-limits'), 'application/apply-patch+yaml');
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ kind: 'Status', reason: 'BadRequest', message });
    expect((await cp.client.call('GET', nsPath('ratelimitpolicies', 'twice-limits'))).status).toBe(404);
  });

  it('answers 422 naming the fieldsV1, not 500, to managedFields nested thousands of levels deep', async () => {
    const path = nsPath('ratelimitpolicies', 'deep-limits');
    const created = (await cp.client.call('PATCH', `${path}?fieldManager=alice`, config('deep-limits'), 'application/apply-patch+yaml')).body;
    // Written out by hand: JSON.stringify itself overflows at this depth.
    const depth = 20_000;
    const fieldsV1 = `${'{"f:spec":'.repeat(depth)}{}${'}'.repeat(depth)}`;
    const entry = `{"manager":"alice","operation":"Apply","apiVersion":"mesh.portolan.dev/v1alpha1","fieldsType":"FieldsV1","fieldsV1":${fieldsV1}}`;
    const body = JSON.stringify({ ...created, metadata: { ...created.metadata, managedFields: ['ENTRY'] } }).replace('"ENTRY"', entry);
    const answer = await cp.client.call('PUT', path, body);
    expect(answer.status).toBe(422);
    expect(answer.body.details.causes).toEqual([expect.objectContaining({ field: 'metadata.managedFields[0].fieldsV1', reason: 'FieldValueInvalid' })]);
    expect((await stored('ratelimitpolicies', 'deep-limits')).metadata.resourceVersion).toBe(created.metadata.resourceVersion);
  });
});
