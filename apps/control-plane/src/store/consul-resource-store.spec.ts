import { afterEach, describe, expect, it } from 'vitest';
import { GROUP_VERSION, type Resource } from '@portolan/api';
import { startConsulTestTarget, type ConsulTestTarget } from '../consul/consul-test-target';
import { ConsulTestServer, type KeyPolicy } from '@portolan/consul-test-server';
import { ConsulAccessDeniedError, ConsulClient, type BlockingOptions, type TxnOperation } from '../consul/consul-client';
import { CONSUL_MAX_OBJECT_BYTES, ConsulResourceStore, StoreObjectTooLargeError } from './consul-resource-store';
import { describeResourceStoreContract } from './resource-store.contract';
import { StoreConflictError, StoreRevisionCompactedError, type Change } from './resource-store';

describeResourceStoreContract('consul', async () => {
  const target = await startConsulTestTarget();
  const client = target.client();
  let store = await ConsulResourceStore.open(client);
  return {
    store,
    reopen: async () => {
      await store.close();
      store = await ConsulResourceStore.open(target.client());
      return store;
    },
    cleanup: async () => {
      await store.close();
      await target.close();
    },
  };
});

const service = (name: string, port: number): Resource => ({ apiVersion: GROUP_VERSION, kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ports: [{ port }] } });
const key = (name: string) => ({ kind: 'Service', namespace: 'default', name });
const actor = 'consul-spec';

/** A client that lets a test run something just before the next writing transaction, or the next read of log entries, is sent. */
class RacingClient extends ConsulClient {
  beforeNextWrite?: () => Promise<unknown>;
  beforeNextLogRead?: () => Promise<unknown>;

  override async txn(operations: TxnOperation[]) {
    const hook = this.beforeNextWrite;
    if (hook && operations.some((operation) => operation.Verb === 'cas')) {
      this.beforeNextWrite = undefined;
      await hook();
    }
    const logHook = this.beforeNextLogRead;
    if (logHook && operations.every((operation) => operation.Verb === 'get' && operation.Key.includes('/log/'))) {
      this.beforeNextLogRead = undefined;
      await logHook();
    }
    return super.txn(operations);
  }
}

/** A client whose blocking queries (the store's change feed) hand their answers on only while the test lets them. */
class HeldFeedClient extends ConsulClient {
  private held: Promise<void> | undefined;
  private release: (() => void) | undefined;

  holdFeed(): void {
    this.held = new Promise((resolve) => (this.release = resolve));
  }

  releaseFeed(): void {
    this.release?.();
    this.held = undefined;
  }

  override async kvGet(key: string, options: BlockingOptions = {}) {
    const answer = await super.kvGet(key, options);
    if (options.wait !== undefined) await this.held;
    return answer;
  }
}

async function writeVersions(store: ConsulResourceStore, name: string, ports: number[]): Promise<void> {
  await store.create(service(name, ports[0]), { actor });
  for (const port of ports.slice(1)) await store.update(service(name, port), { actor });
}

describe('ConsulResourceStore across replicas', () => {
  let target: ConsulTestTarget | undefined;
  const replicas: ConsulResourceStore[] = [];
  const openReplicas = async (count: number) => {
    target = await startConsulTestTarget();
    for (let i = 0; i < count; i++) replicas.push(await ConsulResourceStore.open(target.client()));
    return replicas;
  };
  afterEach(async () => {
    for (const replica of replicas.splice(0)) await replica.close();
    await target?.close();
  });

  it('lets exactly one of two replicas win a conditional update of the same object; the loser gets a conflict and nothing is lost', async () => {
    const [a, b] = await openReplicas(2);
    const created = await a.create(service('checkout', 80), { actor });
    const outcomes = await Promise.allSettled([
      a.update(service('checkout', 81), { actor: 'replica-a', expectedResourceVersion: created.metadata.resourceVersion }),
      b.update(service('checkout', 82), { actor: 'replica-b', expectedResourceVersion: created.metadata.resourceVersion }),
    ]);
    const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const lost = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(won).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(StoreConflictError);
    const winner = (won[0] as PromiseFulfilledResult<Resource>).value;
    expect(await b.get(key('checkout'))).toEqual(winner);
    expect((await a.history(key('checkout'))).map((change) => change.type)).toEqual(['ADDED', 'MODIFIED']);
  });

  it('detects through the CAS a write that lands between its read and its transaction', async () => {
    target = await startConsulTestTarget();
    const racing = new RacingClient({ address: target.address, token: target.token, prefix: target.prefix });
    const a = await ConsulResourceStore.open(racing);
    const b = await ConsulResourceStore.open(target.client());
    replicas.push(a, b);
    const created = await a.create(service('checkout', 80), { actor });
    // B writes after A has read the object and checked its precondition, before A's transaction.
    racing.beforeNextWrite = () => b.update(service('checkout', 82), { actor: 'replica-b', expectedResourceVersion: created.metadata.resourceVersion });
    await expect(a.update(service('checkout', 81), { actor: 'replica-a', expectedResourceVersion: created.metadata.resourceVersion })).rejects.toBeInstanceOf(StoreConflictError);
    expect((await a.get(key('checkout')))!.spec).toEqual({ ports: [{ port: 82 }] });
    racing.close();
  });

  it('keeps one gap-free revision sequence when replicas write different objects at once', async () => {
    const [a, b, c] = await openReplicas(3);
    const start = await a.revision();
    const writes = [a, b, c].flatMap((replica, r) => Array.from({ length: 5 }, (_, i) => replica.create(service(`svc-${r}-${i}`, 80), { actor })));
    const stored = await Promise.all(writes);
    const versions = stored.map((resource) => Number(resource.metadata.resourceVersion)).sort((x, y) => x - y);
    expect(versions).toEqual(Array.from({ length: 15 }, (_, i) => start + i + 1));
    expect(await c.revision()).toBe(start + 15);
  });

  it('tells every replica of a change made through another, in revision order', async () => {
    const [a, b, c] = await openReplicas(3);
    const seenByB: Change[] = [];
    const seenByC: Change[] = [];
    await b.watch(await b.revision(), (change) => seenByB.push(change));
    await c.watch(await c.revision(), (change) => seenByC.push(change));
    await a.create(service('orders', 80), { actor });
    await a.update(service('orders', 81), { actor });
    await expect.poll(() => [seenByB.length, seenByC.length], { timeout: 10_000 }).toEqual([2, 2]);
    expect(seenByB.map((change) => change.type)).toEqual(['ADDED', 'MODIFIED']);
    expect(seenByC.map((change) => change.after!.spec)).toEqual([{ ports: [{ port: 80 }] }, { ports: [{ port: 81 }] }]);
  });

  it('resumes a watch after a restart from the revision it had reached, missing nothing', async () => {
    const [a] = await openReplicas(1);
    await a.create(service('one', 80), { actor });
    const reached = await a.revision();
    await a.close();
    const writer = await ConsulResourceStore.open(target!.client());
    replicas.push(writer);
    await writer.create(service('two', 80), { actor });
    await writer.delete(key('one'), { actor });
    const restarted = await ConsulResourceStore.open(target!.client());
    replicas.push(restarted);
    const seen: Change[] = [];
    await restarted.watch(reached, (change) => seen.push(change));
    expect(seen.map((change) => [change.type, change.key.name])).toEqual([
      ['ADDED', 'two'],
      ['DELETED', 'one'],
    ]);
  });

  it('stores and updates an object just under the size limit: its write fits Consul\'s transaction limit', async () => {
    const [a] = await openReplicas(1);
    const big = (port: number) => ({ ...service('big', port), spec: { ports: [{ port }], description: 'x'.repeat(CONSUL_MAX_OBJECT_BYTES - 200) } });
    await a.create(big(80), { actor });
    const updated = await a.update(big(81), { actor });
    expect((await a.get(key('big')))!.metadata.resourceVersion).toBe(updated.metadata.resourceVersion);
  });

  it('ends the watches of a replica whose feed fell behind a compaction, telling those that asked, and goes on from the current revision', async () => {
    target = await startConsulTestTarget();
    const lagging = new HeldFeedClient({ address: target.address, token: target.token, prefix: target.prefix });
    const a = await ConsulResourceStore.open(lagging);
    const b = await ConsulResourceStore.open(target.client());
    replicas.push(a, b);
    await b.create(service('checkout', 80), { actor });
    const reached = await a.revision();
    const seen: Change[] = [];
    const expired: StoreRevisionCompactedError[] = [];
    const unaware: Change[] = [];
    await a.watch(reached, (change) => seen.push(change), (error) => expired.push(error));
    await a.watch(reached, (change) => unaware.push(change));
    // A is cut off while B writes and compacts what A has not read yet.
    lagging.holdFeed();
    for (const port of [81, 82, 83, 84, 85]) await b.update(service('checkout', port), { actor });
    const compacted = await b.revision();
    await b.compact(compacted, 1);
    lagging.releaseFeed();

    await expect.poll(() => expired.length, { timeout: 10_000 }).toBe(1);
    expect(expired[0]).toBeInstanceOf(StoreRevisionCompactedError);
    expect(expired[0]).toMatchObject({ requested: reached, oldest: compacted });
    expect(seen).toEqual([]);

    const resumed: Change[] = [];
    await a.watch(await a.revision(), (change) => resumed.push(change));
    await b.update(service('checkout', 86), { actor });
    await expect.poll(() => resumed.length, { timeout: 10_000 }).toBe(1);
    expect(resumed[0].after!.spec).toEqual({ ports: [{ port: 86 }] });
    expect([seen, unaware, expired.length]).toEqual([[], [], 1]);
  });

  it('compacts more changes than one transaction carries, removing each log entry with its history marker', async () => {
    const [a] = await openReplicas(1);
    await writeVersions(a, 'busy', Array.from({ length: 100 }, (_, i) => 1000 + i));
    expect(await a.compact(await a.revision(), 1)).toMatchObject({ removed: 99 });
    const client = target!.client();
    expect(await client.kvKeys(client.key('log') + '/')).toHaveLength(1);
    expect(await client.kvKeys(client.key('history') + '/')).toHaveLength(1);
    expect((await a.history(key('busy')))[0].after!.spec).toEqual({ ports: [{ port: 1099 }] });
  });

  it('answers the kept history when a compaction removes changes while the history is being read', async () => {
    target = await startConsulTestTarget();
    const racing = new RacingClient({ address: target.address, token: target.token, prefix: target.prefix });
    const a = await ConsulResourceStore.open(racing);
    const b = await ConsulResourceStore.open(target.client());
    replicas.push(a, b);
    await writeVersions(b, 'checkout', [80, 81, 82, 83]);
    racing.beforeNextLogRead = async () => b.compact(await b.revision(), 2);
    const history = await a.history(key('checkout'));
    expect(history.map((change) => change.after!.spec)).toEqual([{ ports: [{ port: 82 }] }, { ports: [{ port: 83 }] }]);
    racing.close();
  });

  it('never moves the compacted revision backwards when two replicas compact at once', async () => {
    const [a, b] = await openReplicas(2);
    await writeVersions(a, 'checkout', [80, 81, 82, 83, 84]);
    const revision = await a.revision();
    await Promise.all([a.compact(revision, 1), b.compact(revision - 2, 1)]);
    expect(await b.compaction()).toEqual({ compactedRevision: revision, keepPerObject: 1 });
    expect(await a.history(key('checkout'))).toHaveLength(1);
  });

  it('accepts a watch from a recent revision while Consul is down, from what it has seen (a kubectl watch resuming during an outage)', async () => {
    const [a] = await openReplicas(1);
    if (!target!.double) return; // a real Consul cannot be stopped from here
    const first: Change[] = [];
    const stopFirst = await a.watch(await a.revision(), (change) => first.push(change));
    await writeVersions(a, 'svc', [1, 2]);
    await expect.poll(() => first.length).toBe(2);
    const revision = await a.revision();
    await target!.double.stop();
    try {
      const resumed = await a.watch(revision - 1, () => undefined);
      resumed();
    } finally {
      await target!.double.resume();
      stopFirst();
    }
  });

  it('refuses an object too large for a Consul transaction, storing nothing', async () => {
    const [a] = await openReplicas(1);
    const huge = { ...service('huge', 80), spec: { ports: [{ port: 80 }], description: 'x'.repeat(200 * 1024) } };
    await expect(a.create(huge, { actor })).rejects.toBeInstanceOf(StoreObjectTooLargeError);
    expect(await a.get(key('huge'))).toBeUndefined();
  });
});

/**
 * Consul with ACLs, where the store's token may not do everything under its prefix (the double's key
 * rules; hashicorp/consul agent/consul/txn_endpoint.go and kvs_endpoint.go): a write Consul refuses
 * arrives as a 409 "Permission denied" operation, a read of keys the token may not see as results
 * silently left out. Either must reach the operator as an ACL problem, never as partial data.
 */
describe('ConsulResourceStore with an ACL token limited by key rules', () => {
  let consul: ConsulTestServer | undefined;
  const stores: ConsulResourceStore[] = [];
  const clients: ConsulClient[] = [];
  const client = (token: string) => {
    const created = new ConsulClient({ address: consul!.address, token, prefix: 'portolan' });
    clients.push(created);
    return created;
  };
  /** A store with the token allowed everything, and one whose token has `rules` on top of write on the prefix. */
  const open = async (rules: Record<string, KeyPolicy>) => {
    consul = await ConsulTestServer.start({ aclToken: 'admin', acl: { tokens: { limited: { keyPrefixes: { 'portolan/': 'write', ...rules } } } } });
    const admin = await ConsulResourceStore.open(client('admin'));
    const limited = await ConsulResourceStore.open(client('limited'));
    stores.push(admin, limited);
    return { admin, limited };
  };
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const created of clients.splice(0)) created.close();
    await consul?.close();
  });

  it('refuses a write the token may only read as ConsulAccessDeniedError naming CONSUL_HTTP_TOKEN and the key, storing nothing', async () => {
    const { admin, limited } = await open({ 'portolan/resources/': 'read' });
    const before = await admin.revision();
    const write = limited.create(service('checkout', 80), { actor });
    await expect(write).rejects.toBeInstanceOf(ConsulAccessDeniedError);
    await expect(write).rejects.toThrow(/refused the transaction's cas of portolan\/resources\/Service\/default\/checkout \(Permission denied.*CONSUL_HTTP_TOKEN/);
    expect(await admin.revision()).toBe(before);
    expect(await admin.get(key('checkout'))).toBeUndefined();
  });

  it('refuses to list objects of which the token may read only some, naming the prefix, rather than answer part of them', async () => {
    const { admin, limited } = await open({ 'portolan/resources/Service/secret/': 'deny' });
    await admin.create(service('public', 80), { actor });
    await admin.create({ ...service('hidden', 80), metadata: { name: 'hidden', namespace: 'secret' } }, { actor });
    await expect(limited.list({ kind: 'Service' })).rejects.toThrow(/refused reading every key under portolan\/resources\/Service\/ .*CONSUL_HTTP_TOKEN/);
    expect((await limited.list({ kind: 'Service', namespace: 'default' })).items.map((item) => item.metadata.name)).toEqual(['public']);
  });

  it('reports a change log the token may not read as an ACL refusal, not as changes compacted away', async () => {
    const { admin, limited } = await open({ 'portolan/log/': 'deny' });
    await writeVersions(admin, 'checkout', [80, 81]);
    await expect(limited.history(key('checkout'))).rejects.toBeInstanceOf(ConsulAccessDeniedError);
    await expect(limited.watch(0, () => undefined)).rejects.toBeInstanceOf(ConsulAccessDeniedError);
  });
});
