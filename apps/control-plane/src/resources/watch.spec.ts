import { EventEmitter } from 'node:events';
import type { Response } from 'express';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Resource } from '@portolan/api';
import type { Change, ResourceStore } from '../store/resource-store';
import { INITIAL_EVENTS_END_ANNOTATION, streamWatch, watchParameters, type WatchRequest } from './watch';

/** A store with a fixed list and a change feed the test drives. */
function fakeStore(items: Resource[], revision: number, listed: Promise<void> = Promise.resolve()) {
  const listeners: Array<(change: Change) => void> = [];
  const store: Pick<ResourceStore, 'list' | 'watch'> = {
    list: async () => {
      await listed;
      return { items, revision };
    },
    watch: async (_from, listener) => {
      listeners.push(listener);
      return () => {
        if (listeners.includes(listener)) listeners.splice(listeners.indexOf(listener), 1);
      };
    },
  };
  return { store, emit: (change: Change) => [...listeners].forEach((listener) => listener(change)), subscribers: () => listeners.length };
}

/** A decorate that waits until the test lets it finish, as a slow status read would. */
function gatedDecorate() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  return { decorate: async (resource: Resource) => (await gate, resource), open };
}

/** The parts of an express Response a watch uses; the lines written are its events. */
function fakeResponse() {
  const emitter = new EventEmitter();
  const lines: string[] = [];
  const response = {
    writableEnded: false,
    status: () => response,
    setHeader: () => response,
    flushHeaders: () => undefined,
    write: (chunk: string) => lines.push(...chunk.trim().split('\n')),
    end: () => {
      response.writableEnded = true;
    },
    on: (event: string, listener: () => void) => emitter.on(event, listener),
  };
  return {
    response: response as unknown as Response,
    events: () => lines.map((line) => JSON.parse(line)),
    ended: () => response.writableEnded,
    leave: () => emitter.emit('close'),
  };
}

const zone = (name: string, resourceVersion: string): Resource =>
  ({ apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'Zone', metadata: { name, namespace: 'default', resourceVersion }, spec: { drained: false } }) as unknown as Resource;

const change = (revision: number, kind: string, after: Resource): Change => ({
  revision,
  type: 'ADDED',
  key: { kind, namespace: 'default', name: after.metadata.name },
  after,
  before: null,
  actor: 'test',
  time: '2026-01-01T00:00:00Z',
}) as unknown as Change;

const request = (overrides: Partial<WatchRequest>): WatchRequest => ({ kind: 'Zone', matches: () => true, decorate: async (resource) => resource, ...overrides });
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('watch bookmarks', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] }));
  afterEach(() => vi.useRealTimers());

  it('sends a BOOKMARK with the newest revision seen, other kinds\' changes included, only when bookmarks are allowed', async () => {
    const { store, emit } = fakeStore([], 10);
    const withBookmarks = fakeResponse();
    const without = fakeResponse();
    await streamWatch(store, request({ resourceVersion: '10', allowWatchBookmarks: true, bookmarkIntervalMs: 1000 }), withBookmarks.response);
    await streamWatch(store, request({ resourceVersion: '10' }), without.response);
    emit(change(11, 'Zone', zone('zone-a', '11')));
    emit(change(12, 'RetryPolicy', zone('unrelated', '12')));
    await settle();
    vi.advanceTimersByTime(1000);
    await settle();
    expect(withBookmarks.events().map((event) => [event.type, event.object.metadata.resourceVersion])).toEqual([
      ['ADDED', '11'],
      ['BOOKMARK', '12'],
    ]);
    expect(withBookmarks.events()[1].object).toEqual({ apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'Zone', metadata: { resourceVersion: '12' } });
    vi.advanceTimersByTime(5000);
    await settle();
    expect(without.events().map((event) => event.type)).toEqual(['ADDED']);
  });

  it('never bookmarks a revision whose event is still being prepared', async () => {
    const { store, emit } = fakeStore([], 10);
    const slow = gatedDecorate();
    const watch = fakeResponse();
    await streamWatch(store, request({ resourceVersion: '10', allowWatchBookmarks: true, bookmarkIntervalMs: 1000, decorate: slow.decorate }), watch.response);
    emit(change(11, 'Zone', zone('zone-a', '11')));
    vi.advanceTimersByTime(1000);
    emit(change(12, 'Zone', zone('zone-b', '12')));
    await settle();
    expect(watch.events()).toEqual([]);
    slow.open();
    await settle();
    expect(watch.events().map((event) => [event.type, event.object.metadata.resourceVersion])).toEqual([
      ['ADDED', '11'],
      ['BOOKMARK', '11'],
      ['ADDED', '12'],
    ]);
  });

  it('sends the events already on their way before a timeout ends the watch', async () => {
    const { store, emit } = fakeStore([], 10);
    const slow = gatedDecorate();
    const watch = fakeResponse();
    await streamWatch(store, request({ resourceVersion: '10', allowWatchBookmarks: true, timeoutSeconds: 1, decorate: slow.decorate }), watch.response);
    emit(change(11, 'Zone', zone('zone-a', '11')));
    vi.advanceTimersByTime(1000);
    emit(change(12, 'Zone', zone('zone-b', '12')));
    slow.open();
    await settle();
    expect(watch.events().map((event) => [event.type, event.object.metadata.resourceVersion])).toEqual([
      ['ADDED', '11'],
      ['BOOKMARK', '11'],
    ]);
    expect(watch.ended()).toBe(true);
  });

  it('keeps a watch open whose timeoutSeconds is longer than a timer counts, rather than ending it at once', async () => {
    const { store } = fakeStore([], 7);
    const watch = fakeResponse();
    await streamWatch(store, request({ resourceVersion: '7', timeoutSeconds: 10 ** 12 }), watch.response);
    vi.advanceTimersByTime(60_000);
    await settle();
    expect(watch.ended()).toBe(false);
    watch.leave();
  });

  it('ends a timed watch with a last BOOKMARK, so the client resumes from there', async () => {
    const { store } = fakeStore([], 7);
    const watch = fakeResponse();
    await streamWatch(store, request({ resourceVersion: '7', allowWatchBookmarks: true, timeoutSeconds: 2 }), watch.response);
    vi.advanceTimersByTime(2000);
    await settle();
    expect(watch.events().map((event) => event.type)).toEqual(['BOOKMARK']);
    expect(watch.ended()).toBe(true);
  });
});

describe('sendInitialEvents (streaming list)', () => {
  it('sends the current objects, then a BOOKMARK marking the end of the initial events, then changes', async () => {
    const { store, emit } = fakeStore([zone('zone-a', '3'), zone('zone-b', '5')], 9);
    const watch = fakeResponse();
    await streamWatch(store, request({ sendInitialEvents: true, allowWatchBookmarks: true }), watch.response);
    emit(change(10, 'Zone', zone('zone-c', '10')));
    await settle();
    const events = watch.events();
    expect(events.map((event) => [event.type, event.object.metadata.name ?? null, event.object.metadata.resourceVersion])).toEqual([
      ['ADDED', 'zone-a', '3'],
      ['ADDED', 'zone-b', '5'],
      ['BOOKMARK', null, '9'],
      ['ADDED', 'zone-c', '10'],
    ]);
    expect(events[2].object.metadata.annotations).toEqual({ [INITIAL_EVENTS_END_ANNOTATION]: 'true' });
  });
});

describe('watchParameters', () => {
  it.each([
    [{ sendInitialEvents: 'true' }, 'sendInitialEvents=true needs allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan'],
    [{ sendInitialEvents: 'true', allowWatchBookmarks: 'true' }, 'sendInitialEvents=true needs allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan'],
    [{ timeoutSeconds: '-1' }, 'timeoutSeconds must be a non-negative integer, not "-1"'],
    [{ timeoutSeconds: 'soon' }, 'timeoutSeconds must be a non-negative integer, not "soon"'],
    [{ allowWatchBookmarks: 'yes' }, 'allowWatchBookmarks must be true or false, not "yes"'],
  ])('refuses %o', (query, message) => {
    expect(() => watchParameters(query)).toThrow(message);
  });

  it('reads what kubectl and client-go send', () => {
    expect(watchParameters({ resourceVersion: '41', allowWatchBookmarks: 'true', timeoutSeconds: '300' })).toEqual({ resourceVersion: '41', timeoutSeconds: 300, allowWatchBookmarks: true, sendInitialEvents: false });
    expect(watchParameters({ sendInitialEvents: 'true', allowWatchBookmarks: 'true', resourceVersionMatch: 'NotOlderThan', resourceVersion: '' })).toMatchObject({ sendInitialEvents: true });
  });
});

describe('a watch that cannot go on', () => {
  it('ends with an ERROR when an object\'s status cannot be read, so the client lists again', async () => {
    const { store, emit, subscribers } = fakeStore([], 10);
    const watch = fakeResponse();
    await streamWatch(store, request({ resourceVersion: '10', decorate: async () => Promise.reject(new Error('Consul did not answer')) }), watch.response);
    emit(change(11, 'Zone', zone('zone-a', '11')));
    await settle();
    const [event] = watch.events();
    expect(event.type).toBe('ERROR');
    expect(event.object).toMatchObject({ kind: 'Status', code: 500, reason: 'InternalError' });
    expect(event.object.message).toContain('Consul did not answer; list again to resume');
    expect(watch.ended()).toBe(true);
    expect(subscribers()).toBe(0);
  });

  it('leaves no subscription behind when the client leaves while the list is being read', async () => {
    let listed!: () => void;
    const { store, subscribers } = fakeStore([zone('zone-a', '3')], 9, new Promise((resolve) => (listed = resolve)));
    const watch = fakeResponse();
    const watching = streamWatch(store, request({}), watch.response);
    watch.leave();
    listed();
    await watching;
    expect(subscribers()).toBe(0);
    expect(watch.events()).toEqual([]);
  });

  it('gives a DELETED object the revision of its deletion', async () => {
    const { store, emit } = fakeStore([], 10);
    const watch = fakeResponse();
    await streamWatch(store, request({ resourceVersion: '10' }), watch.response);
    emit({ ...change(14, 'Zone', zone('zone-a', '11')), type: 'DELETED', after: null, before: zone('zone-a', '11') } as unknown as Change);
    await settle();
    expect(watch.events().map((event) => [event.type, event.object.metadata.resourceVersion])).toEqual([['DELETED', '14']]);
  });
});
