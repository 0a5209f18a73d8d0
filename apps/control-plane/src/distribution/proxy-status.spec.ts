import { describe, expect, it } from 'vitest';
import type { GatewaySyncState } from './distribution.service';
import { syncStateOf } from './proxy-status';
import type { GatewaySnapshot } from './snapshot-builder';

const desired = { version: '12.newContent', revision: 12 } as GatewaySnapshot;
const applied = (version: string) => ({ version, revision: Number(version.split('.')[0]), at: '2026-12-02T00:00:00Z' });
const nack = (version: string) => ({ version, revision: Number(version.split('.')[0]), time: '2026-12-02T00:00:00Z', errors: [] });

describe('syncStateOf', () => {
  it.each([
    { case: 'ACKed the desired content', state: { applied: applied('12.newContent') }, listening: true, phase: 'Healthy', sync: 'Synced' },
    { case: 'ACKed the same content under an older revision', state: { applied: applied('9.newContent') }, listening: true, phase: 'Healthy', sync: 'Synced' },
    { case: 'runs older content', state: { applied: applied('9.oldContent') }, listening: true, phase: 'Healthy', sync: 'Stale' },
    { case: 'never answered', state: {}, listening: true, phase: 'Healthy', sync: 'Stale' },
    { case: 'NACKed the desired content', state: { applied: applied('9.oldContent'), lastNack: nack('12.newContent') }, listening: true, phase: 'Degraded', sync: 'Rejected' },
    { case: 'NACKed older content, then ACKed the desired one', state: { applied: applied('12.newContent'), lastNack: nack('9.oldContent') }, listening: true, phase: 'Healthy', sync: 'Synced' },
    { case: 'NACKed the desired content, then ACKed it on a retry', state: { applied: applied('12.newContent'), lastNack: nack('12.newContent') }, listening: true, phase: 'Healthy', sync: 'Synced' },
    { case: 'is synced but no longer listens', state: { applied: applied('12.newContent') }, listening: false, phase: 'Healthy', sync: 'Disconnected' },
    { case: 'is Offline', state: { applied: applied('12.newContent') }, listening: true, phase: 'Offline', sync: 'Disconnected' },
  ] satisfies Array<{ case: string; state: GatewaySyncState; listening: boolean; phase: 'Healthy' | 'Degraded' | 'Offline'; sync: string }>)(
    'a gateway that $case is $sync',
    ({ state, listening, phase, sync }) => {
      expect(syncStateOf(desired, state, listening, phase)).toBe(sync);
    },
  );
});
