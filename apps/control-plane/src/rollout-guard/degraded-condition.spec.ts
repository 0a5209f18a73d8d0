import Database from 'better-sqlite3';
import { buildResolutionIndex, type Resource } from '@portolan/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DistributionService } from '../distribution/distribution.service';
import type { EventJournal } from '../events/event-journal';
import { SqliteEventJournal } from '../events/sqlite-event-journal';
import { PolicyStatusService } from '../resources/policy-status.service';
import { rolloutGuardMarkerKey, type RolloutGuardMarker } from './degraded-marker';

const policy: Resource = {
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'RetryPolicy',
  metadata: { name: 'checkout-retries', namespace: 'default', generation: 3, resourceVersion: '12', creationTimestamp: '2026-12-02T09:00:00Z' },
  spec: { targetRef: { kind: 'Service', name: 'checkout' }, guardedRollout: { window: '30s' }, attempts: 2 },
} as Resource;

const marker = (generation: number): RolloutGuardMarker => ({
  degraded: true,
  reason: 'RolledBack',
  message: 'RetryPolicy default/checkout-retries (revision 11, generation 2) rolled back to the spec of revision 7 (generation 1), now generation 3 at revision 12: rejected (NACKed) by 1 gateway',
  at: '2026-12-02T10:00:03Z',
  generation,
});

const distribution = {
  resolutionIndex: async () => buildResolutionIndex([policy], 12),
  rollouts: () => new Map(),
  onRolloutChange: () => () => undefined,
} as unknown as DistributionService;

let db: Database.Database;
let journal: SqliteEventJournal;
let service: PolicyStatusService;

const conditions = async (resource: Resource = policy) =>
  ((await service.withStatus(resource)).status as { conditions: Array<Record<string, unknown>> }).conditions;

beforeEach(() => {
  db = new Database(':memory:');
  journal = new SqliteEventJournal(db);
  service = new PolicyStatusService(distribution, journal);
});

afterEach(() => db.close());

describe('the Degraded condition of a policy the rollout guard rolled back', () => {
  it('is True (RolledBack) while the policy is at the generation the rollback wrote', async () => {
    await journal.putStatus(rolloutGuardMarkerKey({ kind: 'RetryPolicy', namespace: 'default', name: 'checkout-retries' }), marker(3));
    const all = await conditions();
    expect(all.map((condition) => condition.type)).toEqual(['Accepted', 'Programmed', 'Overridden', 'Degraded']);
    expect(all[3]).toEqual({ type: 'Degraded', status: 'True', reason: 'RolledBack', message: marker(3).message, observedGeneration: 3, lastTransitionTime: '2026-12-02T10:00:03Z' });
  });

  it('is absent once the policy moved past that generation', async () => {
    await journal.putStatus(rolloutGuardMarkerKey({ kind: 'RetryPolicy', namespace: 'default', name: 'checkout-retries' }), marker(2));
    expect((await conditions()).map((condition) => condition.type)).toEqual(['Accepted', 'Programmed', 'Overridden']);
  });

  it('is absent without a marker, and a marker of another kind of the same name does not count', async () => {
    expect((await conditions()).map((condition) => condition.type)).toEqual(['Accepted', 'Programmed', 'Overridden']);
    await journal.putStatus(rolloutGuardMarkerKey({ kind: 'TimeoutPolicy', namespace: 'default', name: 'checkout-retries' }), marker(3));
    expect((await conditions()).map((condition) => condition.type)).toEqual(['Accepted', 'Programmed', 'Overridden']);
  });

  it('is left out, not an error, when the journal cannot be read', async () => {
    const failing = Object.assign(Object.create(journal) as EventJournal, { status: async () => Promise.reject(new Error('consul down')) });
    service = new PolicyStatusService(distribution, failing);
    expect((await conditions()).map((condition) => condition.type)).toEqual(['Accepted', 'Programmed', 'Overridden']);
  });
});
