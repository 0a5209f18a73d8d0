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
  StoreRevisionCompactedError,
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
const ports = (changes: Change[]) => changes.map((change) => (change.after ?? change.before)!.spec);

/** Creates `name` with port 1, then updates it to ports 2..`versions`: `versions` changes in all. */
async function writeVersions(store: ResourceStore, name: string, versions: number): Promise<void> {
  await store.create(service(name, 1), { actor });
  for (let port = 2; port <= versions; port++) await store.update(service(name, port), { actor });
}

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

    describe('compaction', () => {
      it('keeps the newest changes of each object and removes the older ones; history shows what is kept', async () => {
        const store = await open();
        await writeVersions(store, 'a', 5);
        await writeVersions(store, 'b', 1);
        const through = await store.revision();
        expect(await store.compact(through, 2)).toEqual({ removed: 3, compactedRevision: through });
        const history = await store.history(key('a'));
        expect(ports(history)).toEqual([{ ports: [{ port: 4 }] }, { ports: [{ port: 5 }] }]);
        expect(history[0].before!.spec).toEqual({ ports: [{ port: 3 }] });
        expect(ports(await store.history(key('b')))).toEqual([{ ports: [{ port: 1 }] }]);
        expect(await store.compaction()).toEqual({ compactedRevision: through, keepPerObject: 2 });
      });

      it('forgets an object whose deletion it compacts; one deleted later, or deleted and created again, keeps its newest changes', async () => {
        const store = await open();
        await writeVersions(store, 'gone', 3);
        await store.delete(key('gone'), { actor });
        await writeVersions(store, 'back', 2);
        await store.delete(key('back'), { actor });
        await store.create(service('back', 7), { actor });
        const through = await store.revision();
        await writeVersions(store, 'later', 3);
        await store.delete(key('later'), { actor });
        expect(await store.compact(through, 2)).toEqual({ removed: 4 + 2, compactedRevision: through });
        expect(await store.history(key('gone'))).toEqual([]);
        expect((await store.history(key('back'))).map((change) => change.type)).toEqual(['DELETED', 'ADDED']);
        // Deleted after the compacted revision: still restorable, all its changes kept until a later compaction.
        expect((await store.history(key('later'))).map((change) => change.type)).toEqual(['ADDED', 'MODIFIED', 'MODIFIED', 'DELETED']);
        await store.compact(await store.revision(), 2);
        expect(await store.history(key('later'))).toEqual([]);
      });

      it('never removes a change newer than the revision it compacts through', async () => {
        const store = await open();
        const start = await store.revision();
        await writeVersions(store, 'a', 5);
        expect(await store.compact(start + 2, 1)).toEqual({ removed: 2, compactedRevision: start + 2 });
        expect((await store.history(key('a'))).map((change) => change.revision)).toEqual([start + 3, start + 4, start + 5]);
      });

      it('leaves the objects and the revision counter as they were', async () => {
        const store = await open();
        await writeVersions(store, 'a', 4);
        await writeVersions(store, 'b', 2);
        const revision = await store.revision();
        const before = await store.list({});
        // Past the current revision: only what exists is compacted, so watching from now still works.
        expect((await store.compact(revision + 100, 1)).compactedRevision).toBe(revision);
        expect(await store.revision()).toBe(revision);
        expect(await store.list({})).toEqual(before);
        const next = await store.update(service('a', 9), { actor });
        expect(Number(next.metadata.resourceVersion)).toBe(revision + 1);
      });

      it('does nothing when compacting again or to an older revision', async () => {
        const store = await open();
        await writeVersions(store, 'a', 5);
        const through = await store.revision();
        await store.compact(through, 2);
        expect(await store.compact(through, 2)).toEqual({ removed: 0, compactedRevision: through });
        expect(await store.compact(through - 3, 1)).toEqual({ removed: 0, compactedRevision: through });
        expect(await store.history(key('a'))).toHaveLength(2);
        expect(await store.compaction()).toEqual({ compactedRevision: through, keepPerObject: 2 });
      });

      it('refuses a watch from before the compacted revision, naming both revisions', async () => {
        const store = await open();
        await writeVersions(store, 'a', 3);
        const through = await store.revision();
        await store.compact(through, 1);
        const refused = store.watch(through - 1, () => undefined);
        await expect(refused).rejects.toBeInstanceOf(StoreRevisionCompactedError);
        await expect(refused).rejects.toMatchObject({ requested: through - 1, oldest: through, message: expect.stringMatching(/^too old resource version: \d+ \(\d+\)/) });
      });

      it('watches from the compacted revision or later: every change after it, then live ones', async () => {
        const store = await open();
        await writeVersions(store, 'a', 3);
        const through = await store.revision();
        await store.update(service('a', 4), { actor });
        await store.compact(through, 1);
        const seen: Change[] = [];
        const stop = await store.watch(through, (change) => seen.push(change));
        await store.update(service('a', 5), { actor });
        await expect.poll(() => seen.length).toBe(2);
        expect(seen.map((change) => change.revision)).toEqual([through + 1, through + 2]);
        stop();
      });

      it('does not disturb a watch that already received the compacted changes', async () => {
        const store = await open();
        const seen: Change[] = [];
        const expired: Error[] = [];
        const stop = await store.watch(await store.revision(), (change) => seen.push(change), (error) => expired.push(error));
        await writeVersions(store, 'a', 3);
        await expect.poll(() => seen.length).toBe(3);
        await store.compact(await store.revision(), 1);
        await store.update(service('a', 4), { actor });
        await expect.poll(() => seen.length).toBe(4);
        expect(ports(seen.slice(3))).toEqual([{ ports: [{ port: 4 }] }]);
        expect(expired).toEqual([]);
        stop();
      });

      it('keeps the compacted revision across a reopen', async () => {
        const store = await open();
        if (!harness!.reopen) return;
        await writeVersions(store, 'a', 3);
        const through = await store.revision();
        await store.compact(through, 1);
        const reopened = await harness!.reopen();
        expect(await reopened.compaction()).toEqual({ compactedRevision: through, keepPerObject: 1 });
        await expect(reopened.watch(through - 1, () => undefined)).rejects.toBeInstanceOf(StoreRevisionCompactedError);
        expect(await reopened.history(key('a'))).toHaveLength(1);
      });
    });
  });
}
