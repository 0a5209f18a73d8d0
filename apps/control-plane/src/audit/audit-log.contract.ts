/**
 * The behaviour every AuditLog must have. Each backend's spec calls `describeAuditLogContract` with
 * a harness that opens logs on one set of data: the same database file, or the same Consul prefix.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AuditQueryError, type AuditEntry, type AuditLog, type AuditLogOptions, type NewAuditEntry } from './audit-log';

export interface AuditLogHarness {
  /** Opens a log on the harness's data, closing the one opened before: a second call is a reopen. */
  open(options?: AuditLogOptions): Promise<AuditLog>;
  cleanup(): Promise<void>;
}

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function write(name: string, overrides: Partial<NewAuditEntry> = {}): NewAuditEntry {
  return {
    actor: 'alice',
    role: 'editor',
    sourceAddress: '10.0.0.7',
    userAgent: 'kubectl/v1.33.1 (linux/amd64) kubernetes/abc1234',
    action: 'create',
    method: 'POST',
    path: '/apis/mesh.portolan.dev/v1alpha1/namespaces/shop/ratelimitpolicies',
    object: { kind: 'RateLimitPolicy', namespace: 'shop', name, resourceVersion: '42' },
    outcome: { status: 'Success', code: 201 },
    dryRun: false,
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    ...overrides,
  };
}

/** A clock the test moves. */
function manualClock(start = T0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const names = (entries: AuditEntry[]) => entries.map((entry) => entry.object.name ?? '');

export function describeAuditLogContract(implementation: string, makeHarness: () => Promise<AuditLogHarness>): void {
  describe(`AuditLog contract: ${implementation}`, () => {
    let harness: AuditLogHarness | undefined;
    const open = async (options: AuditLogOptions = {}) => {
      harness ??= await makeHarness();
      return harness.open(options);
    };
    afterEach(async () => {
      await harness?.cleanup();
      harness = undefined;
    });

    it('stores entries as given, with increasing ids and the time of the clock, and lists them newest first', async () => {
      const clock = manualClock();
      const log = await open({ now: clock.now });
      const first = await log.record(write('checkout'));
      clock.advance(1_000);
      const second = await log.record(write('cart', { actor: 'kubernetes:jane', role: undefined, fieldManager: 'kubectl', action: 'apply' }));
      const third = await log.record(write('search', { outcome: { status: 'Failure', code: 403, reason: 'Forbidden', message: 'forbidden: "bob" has role viewer' } }));
      expect(first).toEqual({ ...write('checkout'), id: first.id, time: '2026-03-01T12:00:00.000Z' });
      expect(second).toMatchObject({ actor: 'kubernetes:jane', fieldManager: 'kubectl', action: 'apply', time: '2026-03-01T12:00:01.000Z' });
      expect(second).not.toHaveProperty('role');
      // Ids compare as strings in record order, at the same millisecond too.
      expect([first.id < second.id, second.id < third.id]).toEqual([true, true]);
      expect(await log.list({})).toEqual({ items: [third, second, first] });
    });

    it('keeps an entry of a failed authentication, which has no actor', async () => {
      const log = await open({ now: manualClock().now });
      const refused = write('checkout', { actor: undefined, role: undefined, outcome: { status: 'Failure', code: 401, reason: 'Unauthorized', message: 'Unauthorized: the bearer token is not valid' } });
      const stored = await log.record(refused);
      expect(stored).not.toHaveProperty('actor');
      expect((await log.list({})).items).toEqual([stored]);
    });

    it('filters by actor, action, kind, namespace and name, every criterion together', async () => {
      const log = await open({ now: manualClock().now });
      await log.record(write('checkout'));
      await log.record(write('checkout', { action: 'delete', actor: 'bob' }));
      await log.record(write('checkout', { object: { kind: 'RateLimitPolicy', namespace: 'staging', name: 'checkout' } }));
      await log.record(write('ci-bot', { action: 'token.create', object: { kind: 'Token', name: 'ci-bot' }, token: { id: 'a1', name: 'ci-bot', role: 'editor' } }));
      await log.record(write('gw-1', { actor: 'bootstrap', role: undefined, action: 'gateway.register', object: { kind: 'GatewayNode', namespace: 'default', name: 'gw-1' } }));

      const what = (page: { items: AuditEntry[] }) => page.items.map((entry) => `${entry.actor} ${entry.action} ${entry.object.kind} ${entry.object.namespace ?? '-'}/${entry.object.name}`);
      expect(what(await log.list({ name: 'checkout' }))).toEqual([
        'alice create RateLimitPolicy staging/checkout',
        'bob delete RateLimitPolicy shop/checkout',
        'alice create RateLimitPolicy shop/checkout',
      ]);
      expect(what(await log.list({ actor: 'bob' }))).toEqual(['bob delete RateLimitPolicy shop/checkout']);
      expect(what(await log.list({ action: 'token.create' }))).toEqual(['alice token.create Token -/ci-bot']);
      expect(what(await log.list({ kind: 'GatewayNode' }))).toEqual(['bootstrap gateway.register GatewayNode default/gw-1']);
      expect(what(await log.list({ namespace: 'shop', action: 'create', actor: 'alice', kind: 'RateLimitPolicy', name: 'checkout' }))).toEqual(['alice create RateLimitPolicy shop/checkout']);
      expect((await log.list({ actor: 'mallory' })).items).toEqual([]);
    });

    it('lists the entries at or after `since`, whatever offset it is written with', async () => {
      const clock = manualClock(Date.parse('2026-03-01T10:00:00Z'));
      const log = await open({ now: clock.now });
      await log.record(write('early'));
      clock.advance(HOUR);
      await log.record(write('on-time'));
      clock.advance(30 * 60_000 + 1);
      await log.record(write('late'));
      expect(names((await log.list({ since: '2026-03-01T11:00:00Z' })).items)).toEqual(['late', 'on-time']);
      expect(names((await log.list({ since: '2026-03-01T12:30:00+01:00' })).items)).toEqual(['late']);
      expect((await log.list({ since: '2026-03-01T11:30:00.002Z' })).items).toEqual([]);
    });

    it('pages newest first with `limit` and `continue` until no continue is given, 100 a page when the query says nothing', async () => {
      const log = await open({ now: manualClock().now });
      for (let i = 0; i < 105; i++) await log.record(write(`policy-${i}`));
      const first = await log.list({});
      expect(first.items).toHaveLength(100);
      expect(names(first.items).at(-1)).toBe('policy-5');
      const rest = await log.list({ continue: first.continue });
      expect(names(rest.items)).toEqual(['policy-4', 'policy-3', 'policy-2', 'policy-1', 'policy-0']);
      expect(rest.continue).toBeUndefined();

      const seen: string[] = [];
      let page = await log.list({ limit: 40 });
      seen.push(...names(page.items));
      while (page.continue) {
        page = await log.list({ limit: 40, continue: page.continue });
        seen.push(...names(page.items));
      }
      expect(seen).toEqual(Array.from({ length: 105 }, (_, i) => `policy-${104 - i}`));
      // Exactly `limit` left: the last page says there is nothing more.
      expect((await log.list({ limit: 105 })).continue).toBeUndefined();
    });

    it('pages through a filter, and through entries recorded on several days', async () => {
      const clock = manualClock();
      const log = await open({ now: clock.now });
      for (let i = 0; i < 12; i++) {
        await log.record(write(`policy-${i}`, { actor: i % 3 === 0 ? 'bob' : 'alice' }));
        clock.advance(DAY / 2);
      }
      const first = await log.list({ actor: 'bob', limit: 2 });
      expect(names(first.items)).toEqual(['policy-9', 'policy-6']);
      const second = await log.list({ actor: 'bob', limit: 2, continue: first.continue });
      expect(names(second.items)).toEqual(['policy-3', 'policy-0']);
      expect(second.continue).toBeUndefined();
      // Entries recorded after a page was read come before it, not into the pages after it.
      const page = await log.list({ limit: 5 });
      await log.record(write('newer'));
      expect(names((await log.list({ limit: 5, continue: page.continue })).items)).toEqual(['policy-6', 'policy-5', 'policy-4', 'policy-3', 'policy-2']);
    });

    it('refuses a limit out of 1..1000, a `since` that is not a time and a continue token it did not give, naming the parameter', async () => {
      const log = await open();
      await log.record(write('checkout'));
      for (const limit of [0, 1001, 2.5]) await expect(log.list({ limit })).rejects.toThrow(AuditQueryError);
      await expect(log.list({ limit: 0 })).rejects.toMatchObject({ parameter: 'limit' });
      await expect(log.list({ since: 'yesterday' })).rejects.toMatchObject({ parameter: 'since' });
      for (const token of ['not a token', Buffer.from('12').toString('base64url'), '']) {
        await expect(log.list({ continue: token })).rejects.toMatchObject({ parameter: 'continue' });
      }
    });

    it('keeps at most `maxEntries`, the newest', async () => {
      const log = await open({ maxEntries: 5, now: manualClock().now });
      for (let i = 0; i < 8; i++) await log.record(write(`policy-${i}`));
      expect(names((await log.list({})).items)).toEqual(['policy-7', 'policy-6', 'policy-5', 'policy-4', 'policy-3']);
    });

    it('never holds more than 10% over `maxEntries` between trims, and trims back to it', async () => {
      const log = await open({ maxEntries: 50, now: manualClock().now });
      let most = 0;
      for (let i = 0; i < 120; i++) {
        await log.record(write(`policy-${i}`));
        most = Math.max(most, (await log.list({ limit: 1000 })).items.length);
      }
      expect(most).toBeGreaterThanOrEqual(50);
      expect(most).toBeLessThanOrEqual(55);
      const kept = names((await log.list({ limit: 1000 })).items);
      expect(kept[0]).toBe('policy-119');
      expect(kept).toEqual(kept.map((_, i) => `policy-${119 - i}`));
    });

    it('hides entries past `maxAgeMs` at once and removes them on a later record, across days', async () => {
      const clock = manualClock();
      let log = await open({ maxEntries: 10, maxAgeMs: 2 * DAY, now: clock.now });
      await log.record(write('old-1'));
      clock.advance(DAY);
      await log.record(write('old-2'));
      clock.advance(DAY / 2);
      await log.record(write('recent'));
      clock.advance(DAY + DAY / 4);
      // old-1 is 2.75 days old, old-2 1.75, recent 1.25.
      expect(names((await log.list({})).items)).toEqual(['recent', 'old-2']);
      clock.advance(DAY / 2);
      expect(names((await log.list({})).items)).toEqual(['recent']);
      // A since before the age limit does not bring them back.
      expect(names((await log.list({ since: '2026-01-01T00:00:00Z' })).items)).toEqual(['recent']);
      await log.record(write('new'));
      // Reopened with a longer age limit: the old ones were removed, not only hidden.
      log = await open({ maxAgeMs: 365 * DAY, now: clock.now });
      expect(names((await log.list({})).items)).toEqual(['new', 'recent']);
    });

    it('keeps entries across a reopen, and gives later entries later ids', async () => {
      const clock = manualClock();
      let log = await open({ now: clock.now });
      const recorded = [await log.record(write('checkout')), await log.record(write('cart', { action: 'delete' }))];
      log = await open({ now: clock.now });
      expect((await log.list({})).items).toEqual([recorded[1], recorded[0]]);
      clock.advance(1);
      const next = await log.record(write('search'));
      expect(next.id > recorded[1].id).toBe(true);
    });

    it('stores entries recorded at once, each with its own id', async () => {
      const log = await open({ now: manualClock().now });
      const recorded = await Promise.all(Array.from({ length: 70 }, (_, i) => log.record(write(`policy-${i}`))));
      expect(new Set(recorded.map((entry) => entry.id)).size).toBe(70);
      const listed = (await log.list({ limit: 1000 })).items;
      expect(listed).toHaveLength(70);
      expect(new Set(names(listed))).toEqual(new Set(names(recorded)));
    });
  });
}
