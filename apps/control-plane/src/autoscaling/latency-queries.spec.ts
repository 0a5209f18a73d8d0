import { describe, expect, it } from 'vitest';
import { averageLatencyQuery, latencyQuantileQuery, requestRateQuery } from './latency-queries';

describe('autoscaler latency queries', () => {
  it.each([
    {
      name: 'p99 per pool and zone, every pool',
      query: latencyQuantileQuery(0.99, '1m'),
      expected: 'histogram_quantile(0.99, sum by (le, pool, zone) (rate(portolan_gateway_request_duration_seconds_bucket[1m])))',
    },
    {
      name: 'p50 of one pool',
      query: latencyQuantileQuery(0.5, '30s', { pool: 'edge' }),
      expected: 'histogram_quantile(0.5, sum by (le, pool, zone) (rate(portolan_gateway_request_duration_seconds_bucket{pool="edge"}[30s])))',
    },
    {
      name: 'p90 of one pool in one zone',
      query: latencyQuantileQuery(0.9, '5m', { pool: 'edge', zone: 'zone-a' }),
      expected: 'histogram_quantile(0.9, sum by (le, pool, zone) (rate(portolan_gateway_request_duration_seconds_bucket{pool="edge",zone="zone-a"}[5m])))',
    },
    {
      name: 'p99 of one pool across its zones',
      query: latencyQuantileQuery(0.99, '2m', { pool: 'edge', acrossZones: true }),
      expected: 'histogram_quantile(0.99, sum by (le, pool) (rate(portolan_gateway_request_duration_seconds_bucket{pool="edge"}[2m])))',
    },
    {
      name: 'request rate of one pool across its zones',
      query: requestRateQuery('2m', { pool: 'edge', acrossZones: true }),
      expected: 'sum by (pool) (rate(portolan_gateway_request_duration_seconds_count{pool="edge"}[2m]))',
    },
    {
      name: 'average latency per pool and zone',
      query: averageLatencyQuery('1m'),
      expected:
        'sum by (pool, zone) (rate(portolan_gateway_request_duration_seconds_sum[1m])) / sum by (pool, zone) (rate(portolan_gateway_request_duration_seconds_count[1m]))',
    },
    {
      name: 'average latency of one zone, both sides filtered',
      query: averageLatencyQuery('2m', { zone: 'zone-b' }),
      expected:
        'sum by (pool, zone) (rate(portolan_gateway_request_duration_seconds_sum{zone="zone-b"}[2m])) / sum by (pool, zone) (rate(portolan_gateway_request_duration_seconds_count{zone="zone-b"}[2m]))',
    },
    {
      name: 'request rate per pool and zone',
      query: requestRateQuery('1h30m'),
      expected: 'sum by (pool, zone) (rate(portolan_gateway_request_duration_seconds_count[1h30m]))',
    },
    {
      name: 'label values escaped as PromQL strings',
      query: requestRateQuery('1m', { pool: 'a"b\\c', zone: 'line\nbreak' }),
      expected: 'sum by (pool, zone) (rate(portolan_gateway_request_duration_seconds_count{pool="a\\"b\\\\c",zone="line\\nbreak"}[1m]))',
    },
  ])('$name', ({ query, expected }) => {
    expect(query).toBe(expected);
  });

  it.each([
    { name: 'a quantile above 1', build: () => latencyQuantileQuery(99, '1m'), message: 'quantile must be from 0 to 1 (0.99 for p99), got 99' },
    { name: 'a negative quantile', build: () => latencyQuantileQuery(-0.5, '1m'), message: 'quantile must be from 0 to 1' },
    { name: 'a NaN quantile', build: () => latencyQuantileQuery(Number.NaN, '1m'), message: 'got NaN' },
    { name: 'a window without unit', build: () => requestRateQuery('60'), message: 'window must be a PromQL duration such as 30s, 1m or 1h30m, got "60"' },
    { name: 'a window that closes the bracket', build: () => averageLatencyQuery('1m]) or vector(1'), message: 'got "1m]) or vector(1"' },
    { name: 'an empty window', build: () => latencyQuantileQuery(0.5, ''), message: 'got ""' },
  ])('refuses $name', ({ build, message }) => {
    expect(build).toThrow(RangeError);
    expect(build).toThrow(message);
  });
});
