/**
 * The Consul audit log over real HTTP: against the Consul test double, or a real Consul when
 * CONSUL_HTTP_ADDR is set (CONSUL_HTTP_TOKEN as its token), each run under its own prefix.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { realConsulAddress, startConsulTestTarget, type ConsulTestTarget } from '../consul/consul-test-target';
import { describeAuditLogContract } from './audit-log.contract';
import type { NewAuditEntry } from './audit-log';
import { ConsulAuditLog } from './consul-audit-log';

describeAuditLogContract('consul', async () => {
  const target = await startConsulTestTarget();
  let log: ConsulAuditLog | undefined;
  return {
    open: async (options) => {
      await log?.close();
      // A new client each time: a reopen shares nothing in memory with the log before it.
      log = await ConsulAuditLog.open(target.client(), options);
      return log;
    },
    cleanup: async () => {
      await log?.close();
      await target.close();
    },
  };
});

const write = (name: string): NewAuditEntry => ({
  actor: 'alice',
  role: 'editor',
  action: 'create',
  method: 'POST',
  path: '/apis/mesh.portolan.dev/v1alpha1/namespaces/shop/routes',
  object: { kind: 'Route', namespace: 'shop', name, resourceVersion: '7' },
  outcome: { status: 'Success', code: 201 },
  dryRun: false,
});

describe('ConsulAuditLog across replicas', () => {
  let target: ConsulTestTarget | undefined;
  const logs: ConsulAuditLog[] = [];
  afterEach(async () => {
    for (const log of logs.splice(0)) await log.close();
    await target?.close();
    target = undefined;
  });
  const openReplicas = async (count: number) => {
    target = await startConsulTestTarget();
    for (let i = 0; i < count; i++) logs.push(await ConsulAuditLog.open(target.client()));
    return logs;
  };

  it('shows every replica the entries of every replica, with unique ids', async () => {
    const [a, b] = await openReplicas(2);
    const recorded = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).record(write(`route-${i}`))));
    expect(new Set(recorded.map((entry) => entry.id)).size).toBe(10);
    const fromA = (await a.list({})).items;
    expect(fromA.map((entry) => entry.object.name).sort()).toEqual(recorded.map((entry) => entry.object.name).sort());
    expect((await b.list({})).items).toEqual(fromA);
    // Newest first: by time, and in record order within one replica.
    expect(fromA.map((entry) => entry.id)).toEqual(fromA.map((entry) => entry.id).sort().reverse());
  });

  it('keeps entries under <prefix>/audit/<day>/<id>', async () => {
    const [log] = await openReplicas(1);
    const recorded = await Promise.all(Array.from({ length: 3 }, (_, i) => log.record(write(`route-${i}`))));
    const client = target!.client();
    const keys = await client.kvKeys(client.key('audit') + '/');
    expect(keys.sort()).toEqual(recorded.map((entry) => client.key('audit', entry.time.slice(0, 10), entry.id)).sort());
    for (const entry of recorded) expect(JSON.parse((await client.kvGet(client.key('audit', entry.time.slice(0, 10), entry.id))).value!.Value!)).toEqual(entry);
  });

  it.skipIf(realConsulAddress)('writes a burst of records in one transaction', async () => {
    const [log] = await openReplicas(1);
    // The first record after opening trims; this one makes the burst's own write the only one.
    await log.record(write('first'));
    const before = target!.double!.index;
    await Promise.all(Array.from({ length: 30 }, (_, i) => log.record(write(`route-${i}`))));
    expect(target!.double!.index - before).toBe(1);
    expect((await log.list({ limit: 1000 })).items).toHaveLength(31);
  });

  it.skipIf(realConsulAddress)('fails the records of a batch Consul does not take, and stores the next ones once it answers again', async () => {
    const [log] = await openReplicas(1);
    await target!.double!.stop();
    const lost = await Promise.allSettled([log.record(write('lost-1')), log.record(write('lost-2'))]);
    expect(lost.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    await target!.double!.resume();
    const kept = await log.record(write('kept'));
    expect((await log.list({})).items).toEqual([kept]);
  });
});
