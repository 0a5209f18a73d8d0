/**
 * The Consul journal over real HTTP: against the Consul test double, or a real Consul when
 * CONSUL_HTTP_ADDR is set (CONSUL_HTTP_TOKEN as its token), each run under its own prefix.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MeshEvent } from '@portolan/api';
import { startConsulTestTarget, type ConsulTestTarget } from '../consul/consul-test-target';
import { ConsulEventJournal } from './consul-event-journal';
import { describeEventJournalContract } from './event-journal.contract';
import type { NewMeshEvent } from './event-journal';

describeEventJournalContract('consul', async () => {
  const target = await startConsulTestTarget();
  let journal: ConsulEventJournal | undefined;
  return {
    open: async (options) => {
      await journal?.close();
      // A new client each time: a reopen shares nothing in memory with the journal before it.
      journal = await ConsulEventJournal.open(target.client(), options);
      return journal;
    },
    cleanup: async () => {
      await journal?.close();
      await target.close();
    },
  };
});

const event = (name: string): NewMeshEvent => ({
  type: 'Normal',
  reason: 'ScaledUp',
  regarding: { kind: 'AutoscalePolicy', namespace: 'shop', name },
  source: 'autoscaler',
  message: `scaled ${name}`,
});

describe('ConsulEventJournal across replicas', () => {
  let target: ConsulTestTarget | undefined;
  const journals: ConsulEventJournal[] = [];
  afterEach(async () => {
    for (const journal of journals.splice(0)) await journal.close();
    await target?.close();
    target = undefined;
  });
  const openReplicas = async (count: number) => {
    target = await startConsulTestTarget();
    for (let i = 0; i < count; i++) journals.push(await ConsulEventJournal.open(target.client()));
    return journals;
  };

  it('gives events recorded through two replicas at once unique ids, increasing in the order they were stored', async () => {
    const [a, b] = await openReplicas(2);
    const recorded = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).record(event(`policy-${i}`))));
    const ids = recorded.map((stored) => stored.id);
    expect(new Set(ids).size).toBe(10);
    const listed = await a.list({});
    expect(listed.map((stored) => stored.id)).toEqual([...ids].sort().reverse());
    expect(await b.list({})).toEqual(listed);
  });

  it('shares statuses between replicas', async () => {
    const [a, b] = await openReplicas(2);
    const policy = { kind: 'AutoscalePolicy', namespace: 'shop', name: 'checkout' };
    await a.putStatus(policy, { replicas: 3 });
    expect(await b.status(policy)).toEqual({ replicas: 3 });
    await b.deleteStatus(policy);
    expect(await a.status(policy)).toBeUndefined();
  });

  it('keeps events under <prefix>/events/log/ and statuses under <prefix>/controller-status/', async () => {
    const [journal] = await openReplicas(1);
    const stored = await journal.record(event('checkout'));
    await journal.putStatus({ kind: 'AutoscalePolicy', namespace: 'shop', name: 'checkout' }, { replicas: 3 });
    const client = target!.client();
    const keys = await client.kvKeys(client.key() + '/');
    expect(keys.sort()).toEqual([client.key('controller-status', 'AutoscalePolicy', 'shop', 'checkout'), client.key('events', 'log', stored.id), client.key('events', 'sequence')]);
    expect(JSON.parse((await client.kvGet(client.key('events', 'log', stored.id))).value!.Value!) as MeshEvent).toEqual(stored);
  });

  it('goes on after the id counter was deleted by hand, never overwriting an event', async () => {
    const [journal] = await openReplicas(1);
    const first = await journal.record(event('first'));
    const second = await journal.record(event('second'));
    const client = target!.client();
    await client.kvDelete(client.key('events', 'sequence'));
    const third = await journal.record(event('third'));
    expect(third.id > second.id).toBe(true);
    expect((await journal.list({})).map((stored) => stored.regarding.name)).toEqual(['third', 'second', 'first']);
    expect(first.id < second.id).toBe(true);
  });
});
