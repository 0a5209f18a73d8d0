/**
 * The real kubectl against the real control plane process, with the kubeconfig printed by
 * `portolan kubeconfig`: apply, re-apply, update, get (table and YAML), invalid manifests, delete.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { nsPath } from './support/api-client';
import { REPO_ROOT, type ControlPlaneProcess } from './support/control-plane-process';
import { kubectlRunner, startKubectlSession, stopKubectlSession, type KubectlSession } from './support/kubectl';

const EXAMPLES = join(REPO_ROOT, 'examples');

let session: KubectlSession;
let cp: ControlPlaneProcess;
let kubectl: KubectlSession['kubectl'];
let work: string;

beforeAll(async () => {
  session = await startKubectlSession('portolan-kubectl-');
  ({ cp, kubectl, work } = session);
});

afterAll(() => stopKubectlSession(session));

const lines = (text: string) => text.trim().split('\n').filter(Boolean).sort();

describe('kubectl against Portolan', () => {
  it('uses a kubeconfig from `portolan kubeconfig` that points at the HTTPS API with its CA and a token', () => {
    const config = parse(readFileSync(join(work, 'kubeconfig'), 'utf8'));
    expect(config.clusters[0].cluster.server).toBe(cp.apiUrl);
    expect(Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString()).toBe(cp.caPem);
    expect(config.users[0].user.token).toBe(cp.adminToken);
  });

  it('applies every example, then reports them unchanged on a second apply', async () => {
    const first = await kubectl(['apply', '-f', EXAMPLES]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(lines(first.stdout)).toEqual([
      'autoscalepolicy.mesh.portolan.dev/edge-zone-a created',
      'circuitbreakerpolicy.mesh.portolan.dev/checkout-breaker created',
      'failoverpolicy.mesh.portolan.dev/checkout-failover created',
      'ratelimitpolicy.mesh.portolan.dev/checkout-limits created',
      'retrypolicy.mesh.portolan.dev/checkout-retries created',
      'route.mesh.portolan.dev/checkout created',
      'service.mesh.portolan.dev/checkout created',
      'timeoutpolicy.mesh.portolan.dev/checkout-timeouts created',
      'zone.mesh.portolan.dev/zone-c created',
    ]);
    const second = await kubectl(['apply', '-f', EXAMPLES]);
    expect(second.code).toBe(0);
    expect(lines(second.stdout).every((line) => line.endsWith(' unchanged'))).toBe(true);
    expect(lines(second.stdout)).toHaveLength(9);
  });

  it('configures a changed manifest, and the change is stored', async () => {
    const changed = readFileSync(join(EXAMPLES, 'rate-limit-policy.yaml'), 'utf8').replace('requests: 100', 'requests: 50').replace('burst: 100', 'burst: 50');
    writeFileSync(join(work, 'changed.yaml'), changed);
    const result = await kubectl(['apply', '-f', join(work, 'changed.yaml')]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('ratelimitpolicy.mesh.portolan.dev/checkout-limits configured');
    const stored = await cp.client.call('GET', nsPath('ratelimitpolicies', 'checkout-limits'));
    expect(stored.body.spec.limits[0]).toMatchObject({ requests: 50, burst: 50 });
    expect(stored.body.metadata.generation).toBe(2);
  });

  it('lists with the kind\'s columns', async () => {
    const result = await kubectl(['get', 'ratelimitpolicies']);
    expect(result.code).toBe(0);
    const [header, row] = result.stdout.trim().split('\n');
    expect(header.split(/\s+/)).toEqual(['NAME', 'TARGET', 'RATE', 'READY', 'AGE']);
    // No gateway runs it yet: READY is ACKed/running = 0/0.
    expect(row.split(/\s+/).slice(0, 4)).toEqual(['checkout-limits', 'Service/checkout', '50/1m', '0/0']);
    const wide = await kubectl(['get', 'ratelimitpolicies', '-o', 'wide']);
    expect(wide.stdout.trim().split('\n')[0].split(/\s+/)).toEqual(['NAME', 'TARGET', 'RATE', 'READY', 'SCOPE', 'AGE']);
    const short = await kubectl(['get', 'rlp,rtp', '-l', 'team=payments', '-o', 'name']);
    expect(lines(short.stdout)).toEqual(['ratelimitpolicy.mesh.portolan.dev/checkout-limits', 'retrypolicy.mesh.portolan.dev/checkout-retries']);
  });

  it('prints one object as YAML', async () => {
    const result = await kubectl(['get', 'ratelimitpolicy', 'checkout-limits', '-o', 'yaml']);
    expect(result.code).toBe(0);
    const object = parse(result.stdout);
    expect(object).toMatchObject({
      apiVersion: 'mesh.portolan.dev/v1alpha1',
      kind: 'RateLimitPolicy',
      metadata: { name: 'checkout-limits', namespace: 'default', generation: 2 },
      spec: { targetRef: { kind: 'Service', name: 'checkout' }, limits: [{ name: 'per-minute', requests: 50, interval: '60s' }] },
    });
    expect(object.status.conditions.find((c: { type: string }) => c.type === 'Accepted').status).toBe('True');
  });

  it('rejects an invalid manifest with a message naming the bad fields, and stores nothing', async () => {
    writeFileSync(
      join(work, 'invalid.yaml'),
      [
        'apiVersion: mesh.portolan.dev/v1alpha1',
        'kind: RateLimitPolicy',
        'metadata:',
        '  name: broken-limits',
        'spec:',
        '  targetRef:',
        '    kind: Service',
        '    name: checkout',
        '  limits:',
        '    - requests: 100',
        '      interval: sixty seconds',
        '',
      ].join('\n'),
    );
    const result = await kubectl(['apply', '-f', join(work, 'invalid.yaml')]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('spec.limits[0].interval');
    expect(result.stderr).toContain('must be a duration such as 250ms, 2s or 5m');
    expect((await cp.client.call('GET', nsPath('ratelimitpolicies', 'broken-limits'))).status).toBe(404);
  });

  it('rejects unknown fields under kubectl\'s default strict validation', async () => {
    const original = readFileSync(join(EXAMPLES, 'timeout-policy.yaml'), 'utf8');
    writeFileSync(join(work, 'unknown.yaml'), original.replace('name: checkout-timeouts', 'name: typo-timeouts').replace('requestTimeout: 15s', 'requestTimeout: 15s\n  requestTimout: 20s'));
    const result = await kubectl(['apply', '-f', join(work, 'unknown.yaml')]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('unknown field "spec.requestTimout"');
    expect((await cp.client.call('GET', nsPath('timeoutpolicies', 'typo-timeouts'))).status).toBe(404);
  });

  it('previews with --dry-run=server without storing', async () => {
    const manifest = readFileSync(join(EXAMPLES, 'retry-policy.yaml'), 'utf8').replace('name: checkout-retries', 'name: dry-retries');
    writeFileSync(join(work, 'dry.yaml'), manifest);
    const result = await kubectl(['apply', '--dry-run=server', '-f', join(work, 'dry.yaml')]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('retrypolicy.mesh.portolan.dev/dry-retries created (server dry run)');
    expect((await cp.client.call('GET', nsPath('retrypolicies', 'dry-retries'))).status).toBe(404);
  });

  it('diffs a pending change through a server dry run, changing nothing', async () => {
    const before = (await cp.client.call('GET', nsPath('ratelimitpolicies', 'checkout-limits'))).body;
    writeFileSync(join(work, 'pending.yaml'), readFileSync(join(EXAMPLES, 'rate-limit-policy.yaml'), 'utf8').replace('requests: 100', 'requests: 80'));
    const result = await kubectl(['diff', '-f', join(work, 'pending.yaml')]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^-    requests: 50$/m);
    expect(result.stdout).toMatch(/^\+    requests: 80$/m);
    const after = (await cp.client.call('GET', nsPath('ratelimitpolicies', 'checkout-limits'))).body;
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('deletes what it applied', async () => {
    const result = await kubectl(['delete', '-f', EXAMPLES]);
    expect(result.code).toBe(0);
    expect(lines(result.stdout)).toHaveLength(9);
    expect(lines(result.stdout).every((line) => line.endsWith(' deleted'))).toBe(true);
    const after = await kubectl(['get', 'ratelimitpolicies']);
    expect(after.stderr.trim()).toBe('No resources found in default namespace.');
  });

  it('shows registered gateways read-only, with their phase and sync state', async () => {
    const bootstrap = readFileSync(join(session.dataDir, 'bootstrap.token'), 'utf8').trim();
    const registered = await cp.client.withToken(bootstrap).call('POST', '/agent/v1/register', { role: 'gateway', name: 'edge-kubectl', zone: 'zone-a', pool: 'edge', address: '127.0.0.1:8080', version: '1.0.0' });
    expect(registered.status).toBe(201);
    const listed = await kubectl(['get', 'gatewaynodes']);
    expect(listed.code).toBe(0);
    const [header, row] = listed.stdout.trim().split('\n');
    expect(header.split(/\s+/)).toEqual(['NAME', 'ZONE', 'POOL', 'HEALTH', 'REVISION', 'AGE']);
    expect(row.split(/\s+/).slice(0, 4)).toEqual(['edge-kubectl', 'zone-a', 'edge', 'Healthy']);
    const wide = await kubectl(['get', 'gatewaynodes', '-o', 'wide']);
    expect(wide.stdout.trim().split('\n')[0].split(/\s+/)).toEqual(['NAME', 'ZONE', 'POOL', 'HEALTH', 'REVISION', 'SYNCED', 'ADDRESS', 'AGE']);
    expect(wide.stdout).toContain('127.0.0.1:8080');
    const removal = await kubectl(['delete', 'gatewaynode', 'edge-kubectl']);
    expect(removal.code).not.toBe(0);
    expect(removal.stderr).toMatch(/read-only|MethodNotAllowed|not allowed/i);
    expect((await kubectl(['get', 'gwn', 'edge-kubectl', '-o', 'name'])).stdout.trim()).toBe('gatewaynode.mesh.portolan.dev/edge-kubectl');
  });

  it('tells the user to log in when the token is wrong', async () => {
    const config = readFileSync(join(work, 'kubeconfig'), 'utf8').replace(cp.adminToken, 'ptl_wrong_token_0000000000');
    writeFileSync(join(work, 'bad-kubeconfig'), config);
    const result = await kubectlRunner(join(work, 'bad-kubeconfig'))(['get', 'ratelimitpolicies']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('error: You must be logged in to the server');
  });
});
