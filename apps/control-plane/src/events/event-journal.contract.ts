/**
 * The behaviour every EventJournal must have. Each backend's spec calls
 * `describeEventJournalContract` with a harness that opens journals on one set of data: the same
 * database file, or the same Consul prefix.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MeshEvent } from '@portolan/api';
import type { EventJournal, EventJournalOptions, NewMeshEvent } from './event-journal';

export interface EventJournalHarness {
  /** Opens a journal on the harness's data, closing the one opened before: a second call is a reopen. */
  open(options?: EventJournalOptions): Promise<EventJournal>;
  cleanup(): Promise<void>;
}

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const HOUR = 3_600_000;

function scaled(name: string, overrides: Partial<NewMeshEvent> = {}): NewMeshEvent {
  return {
    type: 'Normal',
    reason: 'ScaledUp',
    regarding: { kind: 'AutoscalePolicy', namespace: 'shop', name },
    source: 'autoscaler',
    message: `scaled ${name} from 2 to 3 replicas`,
    details: { from: 2, to: 3, p99Ms: 412.5 },
    ...overrides,
  };
}

/** A clock the test moves. */
function manualClock(start = T0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const names = (events: MeshEvent[]) => events.map((event) => event.regarding.name);

export function describeEventJournalContract(implementation: string, makeHarness: () => Promise<EventJournalHarness>): void {
  describe(`EventJournal contract: ${implementation}`, () => {
    let harness: EventJournalHarness | undefined;
    const open = async (options: EventJournalOptions = {}) => {
      harness ??= await makeHarness();
      return harness.open(options);
    };
    afterEach(async () => {
      await harness?.cleanup();
      harness = undefined;
    });

    it('records events with increasing ids and the time of the clock, and lists them newest first', async () => {
      const clock = manualClock();
      const journal = await open({ now: clock.now });
      const first = await journal.record(scaled('checkout'));
      clock.advance(1_000);
      const second = await journal.record(scaled('cart'));
      const third = await journal.record(scaled('search'));
      expect(first).toEqual({ ...scaled('checkout'), id: first.id, time: '2026-03-01T12:00:00.000Z' });
      expect(second.time).toBe('2026-03-01T12:00:01.000Z');
      // Ids compare as strings in record order, at the same millisecond too.
      expect([first.id < second.id, second.id < third.id]).toEqual([true, true]);
      expect(first.id).toMatch(/^\d+$/);
      expect(await journal.list({})).toEqual([third, second, first]);
    });

    it('keeps the time the controller gave, and an event without details as it was given', async () => {
      const journal = await open({ now: manualClock().now });
      const plain: NewMeshEvent = {
        type: 'Warning',
        reason: 'MetricMissing',
        regarding: { kind: 'AutoscalePolicy', namespace: 'shop', name: 'checkout' },
        source: 'autoscaler',
        message: 'no p99 latency for checkout in the last 5 minutes',
        time: '2026-03-01T11:59:30.250+01:00',
      };
      const recorded = await journal.record(plain);
      expect(recorded).toEqual({ ...plain, id: recorded.id });
      expect(recorded).not.toHaveProperty('details');
      expect(await journal.list({})).toEqual([recorded]);
    });

    it('filters by the object the events are about, by reason and by source, every criterion together', async () => {
      const journal = await open({ now: manualClock().now });
      await journal.record(scaled('checkout'));
      await journal.record(scaled('checkout', { reason: 'ScaledDown' }));
      await journal.record(scaled('checkout', { regarding: { kind: 'AutoscalePolicy', namespace: 'staging', name: 'checkout' } }));
      await journal.record(scaled('cart', { regarding: { kind: 'Route', namespace: 'shop', name: 'cart' }, source: 'rollback' }));
      await journal.record(scaled('search', { reason: 'ScaleFailed', type: 'Warning' }));

      const reasons = (events: MeshEvent[]) => events.map((event) => `${event.regarding.namespace}/${event.regarding.name}:${event.reason}`);
      expect(reasons(await journal.list({ regarding: { name: 'checkout' } }))).toEqual(['staging/checkout:ScaledUp', 'shop/checkout:ScaledDown', 'shop/checkout:ScaledUp']);
      expect(reasons(await journal.list({ regarding: { namespace: 'shop', name: 'checkout' } }))).toEqual(['shop/checkout:ScaledDown', 'shop/checkout:ScaledUp']);
      expect(reasons(await journal.list({ regarding: { kind: 'Route' } }))).toEqual(['shop/cart:ScaledUp']);
      expect(reasons(await journal.list({ reason: 'ScaledUp' }))).toEqual(['shop/cart:ScaledUp', 'staging/checkout:ScaledUp', 'shop/checkout:ScaledUp']);
      expect(reasons(await journal.list({ source: 'rollback' }))).toEqual(['shop/cart:ScaledUp']);
      expect(reasons(await journal.list({ regarding: { kind: 'AutoscalePolicy', namespace: 'shop' }, reason: 'ScaledUp', source: 'autoscaler' }))).toEqual(['shop/checkout:ScaledUp']);
      expect(await journal.list({ reason: 'FailedOver' })).toEqual([]);
    });

    it('lists the events at or after `since`, whatever offset either time is written with', async () => {
      const journal = await open({ now: manualClock().now });
      await journal.record(scaled('early', { time: '2026-03-01T10:00:00Z' }));
      await journal.record(scaled('on-time', { time: '2026-03-01T12:00:00+01:00' }));
      await journal.record(scaled('late', { time: '2026-03-01T11:30:00.001Z' }));
      expect(names(await journal.list({ since: '2026-03-01T11:00:00Z' }))).toEqual(['late', 'on-time']);
      expect(names(await journal.list({ since: '2026-03-01T12:30:00+01:00' }))).toEqual(['late']);
      expect(await journal.list({ since: '2026-03-01T11:30:00.002Z' })).toEqual([]);
    });

    it('answers at most `limit` events, the newest, 100 when the query says nothing', async () => {
      const journal = await open({ now: manualClock().now });
      for (let i = 0; i < 105; i++) await journal.record(scaled(`policy-${i}`));
      expect(names(await journal.list({ limit: 3 }))).toEqual(['policy-104', 'policy-103', 'policy-102']);
      const page = await journal.list({});
      expect(page).toHaveLength(100);
      expect(names(page).at(-1)).toBe('policy-5');
      expect(await journal.list({ limit: 1000 })).toHaveLength(105);
      // Filters first, then the limit.
      expect(names(await journal.list({ regarding: { name: 'policy-7' }, limit: 1 }))).toEqual(['policy-7']);
    });

    it('refuses a limit out of 1..1000 and a `since` that is not a time', async () => {
      const journal = await open();
      for (const limit of [0, 1001, 2.5]) await expect(journal.list({ limit })).rejects.toThrow(/limit/);
      await expect(journal.list({ since: 'yesterday' })).rejects.toThrow(/since/);
      await expect(journal.record(scaled('checkout', { time: 'now-ish' }))).rejects.toThrow(/time/);
      expect(await journal.list({})).toEqual([]);
    });

    it('keeps at most `maxEvents`, the newest', async () => {
      const journal = await open({ maxEvents: 5, now: manualClock().now });
      for (let i = 0; i < 8; i++) await journal.record(scaled(`policy-${i}`));
      expect(names(await journal.list({}))).toEqual(['policy-7', 'policy-6', 'policy-5', 'policy-4', 'policy-3']);
    });

    it('never holds more than 10% over `maxEvents` between trims, and trims back to it', async () => {
      const journal = await open({ maxEvents: 50, now: manualClock().now });
      let most = 0;
      for (let i = 0; i < 120; i++) {
        await journal.record(scaled(`policy-${i}`));
        most = Math.max(most, (await journal.list({ limit: 1000 })).length);
      }
      expect(most).toBeGreaterThanOrEqual(50);
      expect(most).toBeLessThanOrEqual(55);
      const kept = names(await journal.list({ limit: 1000 }));
      expect(kept[0]).toBe('policy-119');
      expect(kept).toEqual(kept.map((_, i) => `policy-${119 - i}`));
    });

    it('hides events past `maxAgeMs` at once and removes them on a later record', async () => {
      const clock = manualClock();
      let journal = await open({ maxEvents: 10, maxAgeMs: HOUR, now: clock.now });
      await journal.record(scaled('old-1'));
      await journal.record(scaled('old-2'));
      clock.advance(30 * 60_000);
      await journal.record(scaled('recent'));
      clock.advance(45 * 60_000);
      expect(names(await journal.list({}))).toEqual(['recent']);
      // A since before the age limit does not bring them back.
      expect(names(await journal.list({ since: '2026-03-01T00:00:00Z' }))).toEqual(['recent']);
      await journal.record(scaled('new'));
      // Reopened with a longer age limit: the old ones were removed, not only hidden.
      journal = await open({ maxAgeMs: 365 * 24 * HOUR, now: clock.now });
      expect(names(await journal.list({}))).toEqual(['new', 'recent']);
    });

    it('never hands out an id again, even after retention removed every event', async () => {
      const journal = await open({ maxEvents: 10, maxAgeMs: HOUR, now: manualClock().now });
      // Recorded with a time already past the age limit: the trim after it leaves the journal empty.
      const stale = await journal.record(scaled('a', { time: new Date(T0 - 2 * HOUR).toISOString() }));
      const next = await journal.record(scaled('b'));
      expect(next.id > stale.id).toBe(true);
      expect(names(await journal.list({}))).toEqual(['b']);
    });

    it('keeps, replaces and deletes the status a controller owns of an object, as JSON', async () => {
      const journal = await open();
      const policy = { kind: 'AutoscalePolicy', namespace: 'shop', name: 'checkout' };
      const status = { replicas: 3, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-03-01T12:00:00Z' }], lastScaleTime: null };
      expect(await journal.status(policy)).toBeUndefined();
      await journal.putStatus(policy, status);
      expect(await journal.status(policy)).toEqual(status);
      // Another kind or namespace with the same name is another object.
      expect(await journal.status({ ...policy, kind: 'Route' })).toBeUndefined();
      expect(await journal.status({ ...policy, namespace: 'staging' })).toBeUndefined();
      await journal.putStatus(policy, { replicas: 4 });
      expect(await journal.status(policy)).toEqual({ replicas: 4 });
      await journal.deleteStatus(policy);
      expect(await journal.status(policy)).toBeUndefined();
      await journal.deleteStatus(policy);
      await expect(journal.putStatus(policy, undefined)).rejects.toThrow(/not JSON/);
    });

    it('keeps events, statuses and the id sequence across a reopen', async () => {
      const clock = manualClock();
      let journal = await open({ now: clock.now });
      const recorded = [await journal.record(scaled('checkout')), await journal.record(scaled('cart', { reason: 'ScaledDown' }))];
      const policy = { kind: 'AutoscalePolicy', namespace: 'shop', name: 'checkout' };
      await journal.putStatus(policy, { replicas: 3 });
      journal = await open({ now: clock.now });
      expect(await journal.list({})).toEqual([recorded[1], recorded[0]]);
      expect(await journal.status(policy)).toEqual({ replicas: 3 });
      const next = await journal.record(scaled('search'));
      expect(next.id > recorded[1].id).toBe(true);
    });

    it('tells onEvent listeners of each event recorded, as stored, until they unsubscribe; a failing listener fails nothing', async () => {
      const journal = await open({ now: manualClock().now });
      const seen: MeshEvent[] = [];
      const unsubscribe = journal.onEvent((event) => seen.push(event));
      journal.onEvent(() => {
        throw new Error('dashboard feed broke');
      });
      const first = await journal.record(scaled('checkout'));
      expect(seen).toEqual([first]);
      unsubscribe();
      await journal.record(scaled('cart'));
      expect(seen).toEqual([first]);
      expect(await journal.list({})).toHaveLength(2);
    });
  });
}
