/**
 * The behaviour every ResourceStore must have. Each implementation's spec calls
 * `describeResourceStoreContract` with a factory; the Consul store will run the same suite.
 */
import { describe, expect, it, afterEach } from 'vitest';
import { GROUP_VERSION, type Resource } from '@portolan/api';
import {
  StoreAlreadyExistsError,
  StoreConflictError,
  StoreNotFoundError,
  type Change,
  type ResourceStore,
} from './resource-store';

export interface StoreHarness {
  store: ResourceStore;
  /** Closes the store and opens it again on the same data, when the implementation is durable. */
  reopen?: () => Promise<ResourceStore>;
  cleanup(): Promise<void>;
}

function service(name: string, port = 8080, namespace = 'default'): Resource {
  return { apiVersion: GROUP_VERSION, kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ port }] } };
}

const actor = 'contract-test';
const key = (name: string, namespace = 'default') => ({ kind: 'Service', namespace, name });

export function describeResourceStoreContract(implementation: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`ResourceStore contract: ${implementation}`, () => {
    let harness: StoreHarness | undefined;
    const open = async () => {
      harness = await makeHarness();
      return harness.store;
    };
    afterEach(async () => {
      await harness?.cleanup();
      harness = undefined;
    });

    it('creates, reads and lists objects, stamping each write with the next revision', async () => {
      const store = await open();
      const start = await store.revision();
      const a = await store.create(service('a'), { actor });
      const b = await store.create(service('b', 9090, 'shop'), { actor });
      expect(Number(a.metadata.resourceVersion)).toBe(start + 1);
      expect(Number(b.metadata.resourceVersion)).toBe(start + 2);
      expect(await store.revision()).toBe(start + 2);
      expect(await store.get(key('a'))).toEqual(a);
      expect(await store.get(key('missing'))).toBeUndefined();
      const all = await store.list({ kind: 'Service' });
      expect(all.items.map((r) => r.metadata.name)).toEqual(['a', 'b']);
      expect(all.revision).toBe(start + 2);
      expect((await store.list({ kind: 'Service', namespace: 'shop' })).items.map((r) => r.metadata.name)).toEqual(['b']);
      expect((await store.list({ kind: 'Route' })).items).toEqual([]);
    });

    it('refuses to create an object twice', async () => {
      const store = await open();
      await store.create(service('a'), { actor });
      await expect(store.create(service('a', 1), { actor })).rejects.toBeInstanceOf(StoreAlreadyExistsError);
      expect((await store.get(key('a')))!.spec).toEqual({ ports: [{ port: 8080 }] });
    });

    it('updates conditionally on resourceVersion and reports the stale one', async () => {
      const store = await open();
      const created = await store.create(service('a'), { actor });
      const updated = await store.update(service('a', 81), { actor, expectedResourceVersion: created.metadata.resourceVersion });
      expect(Number(updated.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion));
      const stale = store.update(service('a', 82), { actor, expectedResourceVersion: created.metadata.resourceVersion });
      await expect(stale).rejects.toBeInstanceOf(StoreConflictError);
      expect((await store.get(key('a')))!.spec).toEqual({ ports: [{ port: 81 }] });
      await expect(store.update(service('nope'), { actor })).rejects.toBeInstanceOf(StoreNotFoundError);
    });

    it('deletes, returning the object as it was, and honours the precondition', async () => {
      const store = await open();
      const created = await store.create(service('a'), { actor });
      await store.update(service('a', 81), { actor });
      await expect(store.delete(key('a'), { actor, expectedResourceVersion: created.metadata.resourceVersion })).rejects.toBeInstanceOf(
        StoreConflictError,
      );
      const deleted = await store.delete(key('a'), { actor });
      expect(deleted.spec).toEqual({ ports: [{ port: 81 }] });
      expect(await store.get(key('a'))).toBeUndefined();
      await expect(store.delete(key('a'), { actor })).rejects.toBeInstanceOf(StoreNotFoundError);
    });

    it('keeps every change of an object with actor, time, before and after', async () => {
      const store = await open();
      await store.create(service('a'), { actor: 'alice' });
      await store.update(service('a', 81), { actor: 'bob' });
      await store.delete(key('a'), { actor: 'carol' });
      const history = await store.history(key('a'));
      expect(history.map((c) => [c.type, c.actor])).toEqual([
        ['ADDED', 'alice'],
        ['MODIFIED', 'bob'],
        ['DELETED', 'carol'],
      ]);
      expect(history[0].before).toBeNull();
      expect(history[1].before!.spec).toEqual({ ports: [{ port: 8080 }] });
      expect(history[1].after!.spec).toEqual({ ports: [{ port: 81 }] });
      expect(history[2].after).toBeNull();
      expect(new Date(history[0].time).getTime()).not.toBeNaN();
      expect(history.map((c) => c.revision)).toEqual([...history.map((c) => c.revision)].sort((x, y) => x - y));
    });

    it('watches from a revision: the backlog in order, then live changes, without gaps or repeats', async () => {
      const store = await open();
      await store.create(service('a'), { actor });
      const from = await store.revision();
      await store.create(service('b'), { actor });
      await store.update(service('b', 81), { actor });
      const seen: Change[] = [];
      const stop = await store.watch(from, (change) => seen.push(change));
      await store.delete(key('a'), { actor });
      await expect.poll(() => seen.length).toBe(3);
      expect(seen.map((c) => [c.type, c.key.name])).toEqual([
        ['ADDED', 'b'],
        ['MODIFIED', 'b'],
        ['DELETED', 'a'],
      ]);
      expect(seen.map((c) => c.revision)).toEqual([from + 1, from + 2, from + 3]);
      stop();
      await store.create(service('c'), { actor });
      expect(seen).toHaveLength(3);
    });

    it('never loses an update when writers race with read-modify-write and preconditions', async () => {
      const store = await open();
      await store.create({ ...service('counter'), spec: { ports: [{ port: 1 }] } }, { actor });
      const increment = async () => {
        for (;;) {
          const current = (await store.get(key('counter')))!;
          const port = (current.spec as { ports: Array<{ port: number }> }).ports[0].port;
          try {
            await store.update({ ...current, spec: { ports: [{ port: port + 1 }] } }, { actor, expectedResourceVersion: current.metadata.resourceVersion });
            return;
          } catch (error) {
            if (!(error instanceof StoreConflictError)) throw error;
          }
        }
      };
      await Promise.all(Array.from({ length: 20 }, increment));
      expect((await store.get(key('counter')))!.spec).toEqual({ ports: [{ port: 21 }] });
    });

    it('keeps acknowledged writes and the revision across a reopen', async () => {
      const store = await open();
      if (!harness!.reopen) return;
      await store.create(service('a'), { actor });
      await store.update(service('a', 81), { actor });
      const revision = await store.revision();
      const reopened = await harness!.reopen();
      expect(await reopened.revision()).toBe(revision);
      expect((await reopened.get(key('a')))!.spec).toEqual({ ports: [{ port: 81 }] });
      expect(await reopened.history(key('a'))).toHaveLength(2);
      const next = await reopened.create(service('b'), { actor });
      expect(Number(next.metadata.resourceVersion)).toBe(revision + 1);
    });
  });
}
