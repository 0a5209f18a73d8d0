/**
 * Every committed write through the API is an event (GET /v1/events, the dashboard's recent
 * events) naming who did what at which revision; dry runs and writes that change nothing are not.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MeshEvent } from '@portolan/api';
import { nsPath } from '../../test/support/api-client';
import { startInProcess, type InProcessControlPlane } from '../../test/support/in-process';

let cp: InProcessControlPlane;
beforeAll(async () => {
  cp = await startInProcess();
});
afterAll(async () => {
  await cp?.stop();
});

const policy = (requests: number) => ({
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'RateLimitPolicy',
  metadata: { name: 'events-limits', namespace: 'default' },
  spec: { targetRef: { kind: 'Mesh' }, limits: [{ name: 'per-second', requests, interval: '1s' }] },
});

it('records created, updated and deleted with the actor and revision; not dry runs or no-op writes', async () => {
  const created = await cp.client.call('POST', nsPath('ratelimitpolicies'), policy(10));
  expect(created.status).toBe(201);
  expect((await cp.client.call('PUT', `${nsPath('ratelimitpolicies', 'events-limits')}?dryRun=All`, policy(20))).status).toBe(200);
  const updated = await cp.client.call('PUT', nsPath('ratelimitpolicies', 'events-limits'), policy(30));
  expect(updated.status).toBe(200);
  expect((await cp.client.call('PUT', nsPath('ratelimitpolicies', 'events-limits'), policy(30))).status).toBe(200);
  expect((await cp.client.call('DELETE', nsPath('ratelimitpolicies', 'events-limits'))).status).toBe(200);

  await expect
    .poll(async () => ((await cp.client.call('GET', '/v1/events?kind=RateLimitPolicy&name=events-limits')).body.items as MeshEvent[]).map((event) => event.reason))
    .toEqual(['Deleted', 'Updated', 'Created']);
  const [deleted, update, create] = (await cp.client.call('GET', '/v1/events?kind=RateLimitPolicy&name=events-limits')).body.items as MeshEvent[];
  expect(create).toMatchObject({ type: 'Normal', source: 'api', regarding: { kind: 'RateLimitPolicy', namespace: 'default', name: 'events-limits' }, details: { revision: Number(created.body.metadata.resourceVersion) } });
  expect(update.details).toMatchObject({ revision: Number(updated.body.metadata.resourceVersion), generation: 2 });
  expect(update.message).toMatch(/^RateLimitPolicy default\/events-limits updated by \S+ \(revision \d+\)$/);
  expect(deleted.message).toContain('deleted by');
});
