import { QueryClient } from '@tanstack/react-query';
import { describe, expect, it } from 'vitest';
import type { GatewayRow, LiveMessage } from '@portolan/api';
import { invalidateFor } from './live-context';
import { initialLiveState, type LiveState } from './live-store';
import { queryKeys } from './query-keys';

const row = (id: string, extra: Partial<GatewayRow> = {}): GatewayRow => ({
  id, name: id, namespace: 'default', zone: 'zone-a', pool: 'edge', address: '127.0.0.1:1', version: '1', phase: 'Healthy', lastHeartbeat: '2026-12-02T12:00:00Z',
  synced: true, transport: 'websocket', requestsPerSecond: 1, serverErrorPercent: 0, p99Ms: 5, openBreakers: 0, ejectedEndpoints: 0, ...extra,
});

/** Which of the given queries a message marks stale. */
function staleAfter(message: LiveMessage, before: LiveState = initialLiveState()): string[] {
  const client = new QueryClient();
  const keys = [
    queryKeys.list('RateLimitPolicy'),
    queryKeys.object('RateLimitPolicy', 'default', 'limits'),
    queryKeys.rollout('RateLimitPolicy', 'default', 'limits'),
    queryKeys.history('RateLimitPolicy', 'default', 'limits'),
    queryKeys.object('RetryPolicy', 'default', 'other'),
    queryKeys.zones,
    queryKeys.selfChecks,
    queryKeys.events('limit=30'),
  ];
  for (const key of keys) client.setQueryData(key, {});
  invalidateFor(client, message, before);
  return keys.filter((key) => client.getQueryState(key)?.isInvalidated).map((key) => key.join('/'));
}

describe('what a live message makes stale (instead of polling)', () => {
  it('a write: the object, its list, history and rollout, and the zones; nothing else', () => {
    expect(staleAfter({ type: 'changed', revision: 9, objects: [{ kind: 'RateLimitPolicy', namespace: 'default', name: 'limits', change: 'MODIFIED' }] })).toEqual([
      'resources/RateLimitPolicy',
      'resource/RateLimitPolicy/default/limits',
      'rollout/RateLimitPolicy/default/limits',
      'history/RateLimitPolicy/default/limits',
      'zones',
    ]);
  });

  it('a rollout move (STATUS): not the history, which did not change', () => {
    expect(staleAfter({ type: 'changed', revision: 9, objects: [{ kind: 'RateLimitPolicy', namespace: 'default', name: 'limits', change: 'STATUS' }] })).not.toContain('history/RateLimitPolicy/default/limits');
  });

  it('gateways: the zones only when who routes where changed, not on every heartbeat', () => {
    const before: LiveState = { ...initialLiveState(), gateways: [row('g1'), row('g2')] };
    expect(staleAfter({ type: 'gateways', items: [row('g1', { requestsPerSecond: 9, lastHeartbeat: '2026-12-02T12:00:02Z' }), row('g2')] }, before)).toEqual([]);
    expect(staleAfter({ type: 'gateways', items: [row('g1', { phase: 'Offline' }), row('g2')] }, before)).toEqual(['zones']);
    expect(staleAfter({ type: 'gateways', items: [row('g1')] }, before)).toEqual(['zones']);
  });

  it('a traffic slot: the self-checks; an event: nothing (it is read from the feed)', () => {
    expect(staleAfter({ type: 'traffic', points: [], services: [] } as LiveMessage)).toEqual(['self-checks']);
    expect(staleAfter({ type: 'event', event: { id: '1', time: 'T', type: 'Normal', reason: 'R', regarding: { kind: 'Zone', namespace: 'default', name: 'a' }, source: 's', message: 'm' } })).toEqual([]);
  });

  it('hello (a reconnect): everything, since changes may have been missed', () => {
    expect(staleAfter({ type: 'hello', user: 'u', role: 'viewer', revision: 1, slotMs: 5000 })).toHaveLength(8);
  });
});
