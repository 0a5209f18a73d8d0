/**
 * What an operator types day to day, with the real kubectl against the real control plane:
 * watching (events in order, one header), label selectors and -A, explain from the OpenAPI
 * document, edit through $KUBE_EDITOR, the status subresource, and delete with its flags.
 * (apply, diff and tables are in kubectl.e2e.spec.ts; server-side apply in
 * kubectl-server-side-apply.e2e.spec.ts.)
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nsPath } from './support/api-client';
import { REPO_ROOT, type ControlPlaneProcess } from './support/control-plane-process';
import { startKubectlSession, stopKubectlSession, type KubectlSession } from './support/kubectl';

const EXAMPLES = join(REPO_ROOT, 'examples');

let session: KubectlSession;
let cp: ControlPlaneProcess;
let kubectl: KubectlSession['kubectl'];
let work: string;

beforeAll(async () => {
  session = await startKubectlSession('portolan-kubectl-workflow-');
  ({ cp, kubectl, work } = session);
});

afterAll(() => stopKubectlSession(session));

const columns = (line: string) => line.trim().split(/\s+/);
const sorted = (text: string) => text.trim().split('\n').filter(Boolean).sort();

function manifest(file: string, edit: (text: string) => string = (text) => text): string {
  const path = join(work, `${Math.random().toString(36).slice(2)}-${file}`);
  writeFileSync(path, edit(readFileSync(join(EXAMPLES, file), 'utf8')));
  return path;
}

describe('kubectl get -w', () => {
  it('prints create, update and delete in order under one header with the kind\'s columns', async () => {
    expect((await kubectl(['apply', '-f', manifest('zone.yaml', (text) => text.replace('name: zone-c', 'name: zone-before'))])).code).toBe(0);
    const watch = kubectl.watch(['get', 'zones', '-w', '--output-watch-events']);
    try {
      // Once the list is printed, kubectl watches from the list's resourceVersion: nothing after it can be missed.
      await watch.waitForLines(2);
      const zone = manifest('zone.yaml', (text) => text.replace('name: zone-c', 'name: zone-w'));
      expect((await kubectl(['apply', '-f', zone])).code).toBe(0);
      expect((await kubectl(['patch', 'zone', 'zone-w', '--type=merge', '-p', '{"spec":{"drained":true,"reason":"kernel upgrade"}}'])).code).toBe(0);
      expect((await kubectl(['delete', 'zone', 'zone-w'])).code).toBe(0);
      const lines = await watch.waitForLines(5);
      expect(columns(lines[0])).toEqual(['EVENT', 'NAME', 'DRAINED', 'REASON', 'AGE']);
      expect(lines.slice(1).map((line) => columns(line).slice(0, 3))).toEqual([
        ['ADDED', 'zone-before', 'False'],
        ['ADDED', 'zone-w', 'False'],
        ['MODIFIED', 'zone-w', 'True'],
        ['DELETED', 'zone-w', 'True'],
      ]);
      expect(lines[3]).toContain('kernel upgrade');
    } finally {
      await watch.stop();
      await kubectl(['delete', 'zone', 'zone-before']);
    }
  });

  it('watches one object from its current state (resourceVersion 0)', async () => {
    expect((await kubectl(['apply', '-f', manifest('zone.yaml', (text) => text.replace('name: zone-c', 'name: zone-one'))])).code).toBe(0);
    const watch = kubectl.watch(['get', 'zone', 'zone-one', '-w', '-o', 'name']);
    try {
      await watch.waitForLines(1);
      expect((await kubectl(['label', 'zone', 'zone-one', 'rack=r7'])).code).toBe(0);
      const lines = await watch.waitForLines(2);
      expect(lines).toEqual(['zone.mesh.portolan.dev/zone-one', 'zone.mesh.portolan.dev/zone-one']);
    } finally {
      await watch.stop();
    }
  });
});

describe('label selectors and namespaces', () => {
  beforeAll(async () => {
    expect((await kubectl(['apply', '-f', manifest('rate-limit-policy.yaml')])).code).toBe(0);
    expect((await kubectl(['apply', '-f', manifest('retry-policy.yaml')])).code).toBe(0);
    const other = manifest('rate-limit-policy.yaml', (text) =>
      text.replace('namespace: default', 'namespace: storefront').replace('name: checkout-limits', 'name: search-limits').replace('team: payments', 'team: search'),
    );
    expect((await kubectl(['apply', '-f', other])).code).toBe(0);
  });

  it('selects by equality, set and existence, in one namespace or all of them', async () => {
    expect(sorted((await kubectl(['get', 'rlp,rtp', '-l', 'team=payments', '-o', 'name'])).stdout)).toEqual([
      'ratelimitpolicy.mesh.portolan.dev/checkout-limits',
      'retrypolicy.mesh.portolan.dev/checkout-retries',
    ]);
    expect(sorted((await kubectl(['get', 'rlp', '-A', '-l', 'team in (payments,search)', '-o', 'name'])).stdout)).toEqual([
      'ratelimitpolicy.mesh.portolan.dev/checkout-limits',
      'ratelimitpolicy.mesh.portolan.dev/search-limits',
    ]);
    expect((await kubectl(['get', 'rlp', '-A', '-l', 'team!=payments', '-o', 'name'])).stdout.trim()).toBe('ratelimitpolicy.mesh.portolan.dev/search-limits');
    const none = await kubectl(['get', 'rlp', '-l', '!team']);
    expect(none.code).toBe(0);
    expect(none.stderr.trim()).toBe('No resources found in default namespace.');
  });

  it('lists every namespace with -A, with a NAMESPACE column and labels', async () => {
    const result = await kubectl(['get', 'rlp', '-A', '--show-labels']);
    expect(result.code).toBe(0);
    const [header, ...rows] = result.stdout.trim().split('\n');
    expect(columns(header)).toEqual(['NAMESPACE', 'NAME', 'TARGET', 'RATE', 'READY', 'AGE', 'LABELS']);
    expect(rows.map((row) => [columns(row)[0], columns(row)[1], columns(row).at(-1)]).sort()).toEqual([
      ['default', 'checkout-limits', 'team=payments'],
      ['storefront', 'search-limits', 'team=search'],
    ]);
  });

  it('refuses a malformed selector with the reason', async () => {
    const result = await kubectl(['get', 'rlp', '-l', 'team in payments']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/label selector|labelSelector|selector/i);
  });
});

describe('kubectl explain', () => {
  it('explains a field from the OpenAPI schema, with its description and its fields', async () => {
    const result = await kubectl(['explain', 'ratelimitpolicies.spec.limits']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('GROUP:      mesh.portolan.dev');
    expect(result.stdout).toContain('KIND:       RateLimitPolicy');
    expect(result.stdout).toMatch(/FIELD: +limits <\[\]Object>/);
    expect(result.stdout).toMatch(/^ {2}interval\s+<string> -required-$/m);
    expect(result.stdout).toMatch(/^ {2}requests\s+<integer> -required-$/m);
  });

  it('names the field that does not exist', async () => {
    const result = await kubectl(['explain', 'rlp.spec.limit']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('field "limit" does not exist');
  });
});

describe('kubectl edit', () => {
  function editor(name: string, script: string): string {
    const path = join(work, name);
    writeFileSync(path, `#!/bin/sh\n${script}\n`);
    chmodSync(path, 0o755);
    return path;
  }

  it('stores what the editor changed', async () => {
    const bump = editor('bump.sh', `sed -i 's/attempts: 3/attempts: 5/' "$1"`);
    const before = (await cp.client.call('GET', nsPath('retrypolicies', 'checkout-retries'))).body;
    expect(before.spec.attempts).toBe(3);
    const result = await kubectl(['edit', 'retrypolicy', 'checkout-retries'], undefined, { KUBE_EDITOR: bump });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('retrypolicy.mesh.portolan.dev/checkout-retries edited');
    const after = (await cp.client.call('GET', nsPath('retrypolicies', 'checkout-retries'))).body;
    expect(after.spec.attempts).toBe(5);
    expect(after.metadata.generation).toBe(before.metadata.generation + 1);
  });

  it('refuses an invalid edit with the field\'s error and keeps the stored object', async () => {
    const breakIt = editor('break.sh', `sed -i 's/attempts: 5/attempts: -2/' "$1"`);
    const before = (await cp.client.call('GET', nsPath('retrypolicies', 'checkout-retries'))).body;
    const result = await kubectl(['edit', 'retrypolicy', 'checkout-retries'], undefined, { KUBE_EDITOR: breakIt });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('retrypolicies.mesh.portolan.dev "checkout-retries" is invalid');
    // kubectl keeps the edit, with the server's causes as comments on top, for the user to fix and retry.
    const copy = /stored to "([^"]+)"/.exec(result.stderr)![1];
    expect(readFileSync(copy, 'utf8')).toMatch(/^# \* spec\.attempts: .*$/m);
    const after = (await cp.client.call('GET', nsPath('retrypolicies', 'checkout-retries'))).body;
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('makes no write when the editor changes nothing', async () => {
    const result = await kubectl(['edit', 'retrypolicy', 'checkout-retries'], undefined, { KUBE_EDITOR: 'true' });
    expect(result.code).toBe(0);
    expect(result.stderr.trim()).toBe('Edit cancelled, no changes made.');
  });
});

describe('the status subresource', () => {
  it('reads status through --subresource=status and refuses writes to it', async () => {
    const read = await kubectl(['get', 'rlp', 'checkout-limits', '--subresource=status', '-o', 'jsonpath={.status.conditions[?(@.type=="Accepted")].status}']);
    expect(read.code).toBe(0);
    expect(read.stdout).toBe('True');
    const write = await kubectl(['patch', 'rlp', 'checkout-limits', '--subresource=status', '--type=merge', '-p', '{"status":{"conditions":[]}}']);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toContain('written by the control plane only');
  });

  it('ignores status in a write to the object itself', async () => {
    const result = await kubectl(['patch', 'rlp', 'checkout-limits', '--type=merge', '-p', '{"status":{"conditions":[]}}']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('ratelimitpolicy.mesh.portolan.dev/checkout-limits patched (no change)');
  });
});

describe('kubectl delete and its flags', () => {
  it('previews a deletion with --dry-run=server and keeps the object', async () => {
    const result = await kubectl(['delete', 'rlp', 'checkout-limits', '--dry-run=server']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('ratelimitpolicy.mesh.portolan.dev "checkout-limits" deleted (server dry run)');
    expect((await cp.client.call('GET', nsPath('ratelimitpolicies', 'checkout-limits'))).status).toBe(200);
  });

  it('deletes by label, with --cascade, --grace-period and --wait, and --ignore-not-found', async () => {
    const result = await kubectl(['delete', 'rlp,rtp', '-l', 'team=payments', '--cascade=foreground', '--grace-period=0', '--wait=true']);
    expect(result.code).toBe(0);
    expect(sorted(result.stdout)).toEqual([
      'ratelimitpolicy.mesh.portolan.dev "checkout-limits" deleted',
      'retrypolicy.mesh.portolan.dev "checkout-retries" deleted',
    ]);
    expect((await cp.client.call('GET', nsPath('ratelimitpolicies', 'search-limits', 'storefront'))).status).toBe(200);
    const missing = await kubectl(['delete', 'rlp', 'checkout-limits', '--ignore-not-found']);
    expect(missing).toMatchObject({ code: 0, stdout: '' });
    const notFound = await kubectl(['delete', 'rlp', 'checkout-limits']);
    expect(notFound.code).not.toBe(0);
    expect(notFound.stderr.trim()).toBe('Error from server (NotFound): ratelimitpolicies.mesh.portolan.dev "checkout-limits" not found');
  });

  it('deletes everything of a kind in a namespace with --all', async () => {
    const result = await kubectl(['delete', 'zones', '--all', '-n', 'default']);
    expect(result.code).toBe(0);
    expect(sorted(result.stdout)).toEqual(['zone.mesh.portolan.dev "zone-one" deleted']);
    expect((await kubectl(['get', 'zones'])).stderr.trim()).toBe('No resources found in default namespace.');
  });

  it('answers a bad propagation policy with a Status naming the field', async () => {
    expect((await kubectl(['apply', '-f', manifest('zone.yaml')])).code).toBe(0);
    const response = await cp.client.call('DELETE', nsPath('zones', 'zone-c'), { propagationPolicy: 'Sideways' });
    expect(response.status).toBe(422);
    expect(response.body.details.causes).toEqual([expect.objectContaining({ field: 'propagationPolicy' })]);
    expect((await cp.client.call('GET', nsPath('zones', 'zone-c'))).status).toBe(200);
  });

  it('deletes only the incarnation a uid precondition names', async () => {
    const stale = await cp.client.call('DELETE', nsPath('zones', 'zone-c'), { preconditions: { uid: 'not-this-one' } });
    expect(stale.status).toBe(409);
    expect(stale.body.message).toContain('Precondition failed: UID in precondition: not-this-one');
    const { uid } = (await cp.client.call('GET', nsPath('zones', 'zone-c'))).body.metadata;
    expect((await cp.client.call('DELETE', nsPath('zones', 'zone-c'), { preconditions: { uid } })).status).toBe(200);
    expect((await cp.client.call('GET', nsPath('zones', 'zone-c'))).status).toBe(404);
  });
});
