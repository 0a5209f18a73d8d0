import { describe, expect, it } from 'vitest';
import { agentSpiffeId, parseAgentSpiffeId } from './agent-identity.js';

describe('parseAgentSpiffeId', () => {
  it.each([
    ['spiffe://portolan/ns/default/gateway/edge-a', { trustDomain: 'portolan', namespace: 'default', role: 'gateway', name: 'edge-a' }],
    ['spiffe://prod.example.org/ns/shop/instance/orders-10.0.0.5-9000', { trustDomain: 'prod.example.org', namespace: 'shop', role: 'instance', name: 'orders-10.0.0.5-9000' }],
  ])('reads %s', (spiffeId, identity) => {
    expect(parseAgentSpiffeId(spiffeId)).toEqual({ spiffeId, ...identity });
    expect(agentSpiffeId(identity as Parameters<typeof agentSpiffeId>[0])).toBe(spiffeId);
  });

  it.each([
    ['another scheme', 'https://portolan/ns/default/gateway/edge-a'],
    ['no path', 'spiffe://portolan'],
    ['an upper-case trust domain', 'spiffe://Portolan/ns/default/gateway/edge-a'],
    ['a port in the trust domain', 'spiffe://portolan:443/ns/default/gateway/edge-a'],
    ['a Kubernetes service account', 'spiffe://cluster.local/ns/default/sa/edge-a'],
    ['a trailing slash', 'spiffe://portolan/ns/default/gateway/edge-a/'],
    ['an extra segment', 'spiffe://portolan/ns/default/gateway/edge-a/b'],
    ['a query', 'spiffe://portolan/ns/default/gateway/edge-a?x=1'],
    ['a name that is no object name', 'spiffe://portolan/ns/default/gateway/Edge_A'],
    ['a dot segment', 'spiffe://portolan/ns/default/gateway/..'],
    ['an empty namespace', 'spiffe://portolan/ns//gateway/edge-a'],
    ['a percent-encoded name', 'spiffe://portolan/ns/default/gateway/edge%2Da'],
  ])('names no agent with %s', (_case, spiffeId) => {
    expect(parseAgentSpiffeId(spiffeId)).toBeUndefined();
  });
});
