/**
 * Compaction of the change history, over the API of a control plane that keeps changes for a
 * second and two per object: old changes go, history and rollback say what is kept, a watch that
 * reaches back too far ends with kube-apiserver's 410 Expired, and watching from now keeps working.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { nsPath } from './support/api-client';
import { startInProcess, type InProcessControlPlane } from './support/in-process';

let cp: InProcessControlPlane;
/** The resourceVersions of the five writes of the object, oldest first. */
const written: string[] = [];
const policy = nsPath('ratelimitpolicies', 'often-changed');
const requestsOf = (object: any) => object.spec.limits[0].requests;

beforeAll(async () => {
  cp = await startInProcess({ PORTOLAN_CHANGE_RETENTION: '1s', PORTOLAN_COMPACTION_INTERVAL: '500ms', PORTOLAN_HISTORY_LIMIT: '2' });
  const created = await cp.client.call('POST', nsPath('ratelimitpolicies'), {
    apiVersion: 'mesh.portolan.dev/v1alpha1',
    kind: 'RateLimitPolicy',
    metadata: { name: 'often-changed' },
    spec: { targetRef: { kind: 'Service', name: 'checkout' }, limits: [{ name: 'per-minute', requests: 1, interval: '60s' }] },
  });
  written.push(created.body.metadata.resourceVersion);
  for (let requests = 2; requests <= 5; requests++) {
    const patched = await cp.client.call('PATCH', policy, { spec: { limits: [{ name: 'per-minute', requests, interval: '60s' }] } }, 'application/merge-patch+json');
    written.push(patched.body.metadata.resourceVersion);
  }
  // Compacted once the writes are a retention old: the history shrinks to the limit.
  await vi.waitFor(async () => expect((await cp.client.call('GET', `${policy}/history`)).body.items).toHaveLength(2), { timeout: 30_000, interval: 200 });
});

afterAll(async () => {
  await cp?.stop();
});

const watch = (resourceVersion: string) => cp.client.watch(`${nsPath('ratelimitpolicies')}?watch=true&resourceVersion=${resourceVersion}`);

describe('a compacted change history', () => {
  it('keeps the newest changes of the object, up to PORTOLAN_HISTORY_LIMIT, and counts the compaction', async () => {
    const history = await cp.client.call('GET', `${policy}/history`);
    expect(history.body.items.map((change: any) => String(change.revision))).toEqual(written.slice(3));
    expect(history.body.items.map((change: any) => requestsOf(change.after))).toEqual([4, 5]);
    expect(requestsOf(history.body.items[0].before)).toBe(3);
    const metrics = await (await fetch(`${cp.running.opsUrl}/metrics`)).text();
    expect(Number(/^portolan_store_compactions_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(Number(/^portolan_store_compacted_changes_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);
    expect(Number(/^portolan_store_compacted_revision (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(Number(written[2]));
  });

  it('answers a rollback to a compacted revision with 422 naming the field, the compaction and the limit, changing nothing', async () => {
    const rollback = await cp.client.call('POST', `${policy}/rollback`, { revision: Number(written[0]) });
    expect(rollback.status).toBe(422);
    expect(rollback.body).toMatchObject({ kind: 'Status', reason: 'Invalid', code: 422 });
    expect(rollback.body.details.causes[0].field).toBe('revision');
    expect(rollback.body.details.causes[0].message).toMatch(/were compacted, keeping the newest 2 of each object \(PORTOLAN_HISTORY_LIMIT\); revisions of this object: \d+, \d+$/);
    expect(requestsOf((await cp.client.call('GET', policy)).body)).toBe(5);
  });

  it('ends a watch from a compacted resourceVersion with an ERROR event carrying 410 Expired', async () => {
    const stale = await watch(written[0]);
    await stale.ended;
    await stale.close();
    expect(stale.events).toHaveLength(1);
    expect(stale.events[0].type).toBe('ERROR');
    expect(stale.events[0].object).toMatchObject({ kind: 'Status', status: 'Failure', code: 410, reason: 'Expired' });
    expect(stale.events[0].object.message).toMatch(new RegExp(`^too old resource version: ${written[0]} \\(\\d+\\)`));
  });

  it('keeps serving watches from the current revision', async () => {
    const list = await cp.client.call('GET', nsPath('ratelimitpolicies'));
    const current = await watch(list.body.metadata.resourceVersion);
    await cp.client.call('PATCH', policy, { spec: { limits: [{ name: 'per-minute', requests: 6, interval: '60s' }] } }, 'application/merge-patch+json');
    await expect.poll(() => current.events.length, { timeout: 10_000 }).toBe(1);
    await current.close();
    expect(current.events[0].type).toBe('MODIFIED');
    expect(requestsOf(current.events[0].object)).toBe(6);
  });
});
