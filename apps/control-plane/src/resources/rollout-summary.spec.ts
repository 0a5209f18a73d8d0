import { describe, expect, it } from 'vitest';
import type { GatewayRollout } from '../distribution/distribution.service';
import { rolloutEntries, summarizeRollout } from './rollout-summary';

const POLICY = 'RateLimitPolicy/default/orders-limit';
const gateway = (name: string, zone: string, answer: Partial<GatewayRollout>): GatewayRollout => ({ name, zone, current: false, ...answer });

describe('summarizeRollout', () => {
  it.each([
    { case: 'ACKed the snapshot it should run', answer: { current: true, appliedRevision: 3 }, outcome: 'acked' },
    { case: 'runs an older snapshot built after the policy entered', answer: { appliedRevision: 12 }, outcome: 'acked' },
    { case: 'runs a snapshot from exactly the policy revision', answer: { appliedRevision: 10 }, outcome: 'acked' },
    { case: 'runs a snapshot from before the policy', answer: { appliedRevision: 9 }, outcome: 'pending' },
    { case: 'never answered', answer: {}, outcome: 'pending' },
    { case: 'rejected the current snapshot because of this policy', answer: { appliedRevision: 12, rejection: { version: '14.x', errors: [{ resource: POLICY, message: 'bad' }] } }, outcome: 'nacked' },
    { case: 'rejected the current snapshot without naming a resource', answer: { rejection: { version: '14.x', errors: [] } }, outcome: 'nacked' },
    { case: 'rejected it because of another resource, after applying this policy', answer: { appliedRevision: 11, rejection: { version: '14.x', errors: [{ resource: 'Route/default/other', message: 'bad' }] } }, outcome: 'acked' },
    { case: 'rejected it because of another resource, before applying this policy', answer: { appliedRevision: 2, rejection: { version: '14.x', errors: [{ resource: 'Route/default/other', message: 'bad' }] } }, outcome: 'pending' },
  ] satisfies Array<{ case: string; answer: Partial<GatewayRollout>; outcome: 'acked' | 'nacked' | 'pending' }>)('counts a gateway that $case as $outcome', ({ answer, outcome }) => {
    const summary = summarizeRollout(POLICY, [gateway('edge-a-1', 'zone-a', answer)], 10);
    expect({ acked: summary.acked, nacked: summary.nacked, pending: summary.pending }).toEqual({ acked: 0, nacked: 0, pending: 0, [outcome]: 1 });
    expect(summary.gateways).toBe(1);
  });

  it('counts per zone, sorted by zone, and lists rejections with their reasons by gateway name', () => {
    const errors = [{ resource: POLICY, field: 'spec.limits', message: 'unsupported interval' }];
    const summary = summarizeRollout(
      POLICY,
      [
        gateway('edge-b-1', 'zone-b', { current: true }),
        gateway('edge-a-2', 'zone-a', { rejection: { version: '11.abc', errors } }),
        gateway('edge-a-1', 'zone-a', { current: true }),
        gateway('edge-b-2', 'zone-b', {}),
      ],
      11,
    );
    expect(summary).toEqual({
      gateways: 4,
      acked: 2,
      nacked: 1,
      pending: 1,
      zones: [
        { zone: 'zone-a', gateways: 2, acked: 1, nacked: 1, pending: 0 },
        { zone: 'zone-b', gateways: 2, acked: 1, nacked: 0, pending: 1 },
      ],
      rejections: [{ gateway: 'edge-a-2', zone: 'zone-a', version: '11.abc', errors }],
    });
  });

  it('keeps the first 10 rejections by gateway name', () => {
    const gateways = Array.from({ length: 15 }, (_, i) => gateway(`edge-${String(i).padStart(2, '0')}`, 'zone-a', { rejection: { version: 'v', errors: [] } }));
    const summary = summarizeRollout(POLICY, gateways.reverse(), 1);
    expect(summary.nacked).toBe(15);
    expect(summary.rejections.map((r) => r.gateway)).toEqual(Array.from({ length: 10 }, (_, i) => `edge-${String(i).padStart(2, '0')}`));
  });

  it('has nothing to count when no gateway runs the policy', () => {
    expect(summarizeRollout(POLICY, [], 5)).toEqual({ gateways: 0, acked: 0, nacked: 0, pending: 0, zones: [], rejections: [] });
  });
});

describe('rolloutEntries', () => {
  it('lists every gateway by name with the same outcome the summary counts, and the rejection only when it NACKed this policy', () => {
    const errors = [{ resource: POLICY, message: 'bad' }];
    const other = [{ resource: 'Route/default/other', message: 'bad' }];
    const gateways = [
      gateway('edge-b-1', 'zone-b', { appliedRevision: 4, rejection: { version: 'v9', errors: other } }),
      gateway('edge-a-2', 'zone-a', { appliedRevision: 9, rejection: { version: 'v9', errors } }),
      gateway('edge-a-1', 'zone-a', { current: true, appliedRevision: 9 }),
    ];
    expect(rolloutEntries(POLICY, gateways, 8)).toEqual([
      { gateway: 'edge-a-1', zone: 'zone-a', outcome: 'acked', appliedRevision: 9 },
      { gateway: 'edge-a-2', zone: 'zone-a', outcome: 'nacked', appliedRevision: 9, rejection: { version: 'v9', errors } },
      { gateway: 'edge-b-1', zone: 'zone-b', outcome: 'pending', appliedRevision: 4 },
    ]);
    const summary = summarizeRollout(POLICY, gateways, 8);
    expect([summary.acked, summary.nacked, summary.pending]).toEqual([1, 1, 1]);
  });
});
