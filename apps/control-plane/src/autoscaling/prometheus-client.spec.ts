/**
 * Against a real Prometheus (the Debian package, started here with its own config and data
 * directory) scraping a fixture that serves known values, NaN and +Inf among them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { averageLatencyQuery, latencyQuantileQuery, requestRateQuery } from './latency-queries';
import { PrometheusClient, PrometheusQueryError } from './prometheus-client';
import { freePort, PrometheusServer, requirePrometheus } from './testing/prometheus-server';

const FIXTURE = [
  '# TYPE portolan_fixture_latency_seconds gauge',
  'portolan_fixture_latency_seconds{pool="edge",zone="zone-a"} 0.25',
  'portolan_fixture_latency_seconds{pool="edge",zone="zone-b"} NaN',
  'portolan_fixture_latency_seconds{pool="edge",zone="zone-c"} +Inf',
  '',
].join('\n');

async function until(what: string, check: () => Promise<boolean>, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; Prometheus said:\n${output()}`);
    await new Promise((retry) => setTimeout(retry, 100));
  }
}

let fixture: Server;
let prometheus: PrometheusServer;
let client: PrometheusClient;
let dataDir: string;

// A test of its own, so that a machine without Prometheus shows a failed test saying what to
// install (a failing beforeAll would only mark the tests below as skipped).
it('has the Prometheus binary to test against', () => {
  requirePrometheus();
});

describe('PrometheusClient against a real Prometheus', () => {
  beforeAll(async () => {
    requirePrometheus();
    fixture = createServer((request, response) => {
      request.resume();
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(FIXTURE);
    });
    await new Promise<void>((listening) => fixture.listen(0, '127.0.0.1', listening));
    dataDir = mkdtempSync(join(tmpdir(), 'portolan-prometheus-client-'));
    prometheus = await PrometheusServer.start(dataDir, { fixture: [`http://127.0.0.1:${(fixture.address() as AddressInfo).port}`] });
    client = new PrometheusClient(prometheus.url);
    await until('the first scrape of the fixture', async () => (await client.query('portolan_fixture_latency_seconds')).length === 3, prometheus.output);
  });

  afterAll(async () => {
    await prometheus?.stop();
    fixture?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('parses an instant vector into labels and values, NaN as null and +Inf as Infinity', async () => {
    const samples = await client.query('portolan_fixture_latency_seconds');
    const byZone = Object.fromEntries(samples.map((sample) => [sample.labels.zone, sample]));
    expect(byZone['zone-a']).toEqual({ labels: { __name__: 'portolan_fixture_latency_seconds', instance: expect.any(String), job: 'fixture', pool: 'edge', zone: 'zone-a' }, value: 0.25 });
    expect(byZone['zone-b'].value).toBeNull();
    expect(byZone['zone-c'].value).toBe(Number.POSITIVE_INFINITY);
  });

  it('answers an aggregation by its grouping labels only', async () => {
    expect(await client.query('sum by (zone) (portolan_fixture_latency_seconds{zone="zone-a"}) * 4')).toEqual([{ labels: { zone: 'zone-a' }, value: 1 }]);
  });

  it('answers a scalar as one label-less sample, and 0/0 as null', async () => {
    expect(await client.query('scalar(vector(2.5))')).toEqual([{ labels: {}, value: 2.5 }]);
    expect(await client.query('vector(0) / vector(0)')).toEqual([{ labels: {}, value: null }]);
  });

  it('evaluates at the time it is given', async () => {
    expect(await client.query('time()', new Date(1_700_000_000_000))).toEqual([{ labels: {}, value: 1_700_000_000 }]);
  });

  it.each([
    ['p99', latencyQuantileQuery(0.99, '1m', { pool: 'edge', zone: 'zone-a' })],
    ['average latency', averageLatencyQuery('30s', { zone: 'zone-b' })],
    ['request rate', requestRateQuery('5m')],
    ['escaped label values', requestRateQuery('1m', { pool: 'a"b\\c', zone: 'line\nbreak' })],
  ])('Prometheus accepts the autoscaler query for %s (no gateway series here, so no samples)', async (_name, query) => {
    expect(await client.query(query)).toEqual([]);
  });

  it('names Prometheus, the query and its error when the query does not parse', async () => {
    const failure = await client.query('sum(rate(').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PrometheusQueryError);
    expect((failure as PrometheusQueryError).message).toMatch(new RegExp(`^Prometheus at ${prometheus.url}, query "sum\\(rate\\(": HTTP 400, bad_data: .*parse error`));
    expect(failure).toMatchObject({ prometheusUrl: prometheus.url, query: 'sum(rate(' });
  });

  it('refuses a range vector answer, which is not a reading', async () => {
    await expect(client.query('portolan_fixture_latency_seconds[1m]')).rejects.toThrow(`Prometheus at ${prometheus.url}, query "portolan_fixture_latency_seconds[1m]": answered a matrix, not an instant vector or scalar`);
  });

  it('names Prometheus and the query when nothing listens there', async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    await expect(new PrometheusClient(nowhere).query('up')).rejects.toThrow(`Prometheus at ${nowhere}, query "up": unreachable: ECONNREFUSED`);
  });

  it('says so when the URL answers something other than Prometheus', async () => {
    const notPrometheus = `http://127.0.0.1:${(fixture.address() as AddressInfo).port}`;
    await expect(new PrometheusClient(`${notPrometheus}/`).query('up')).rejects.toThrow(`Prometheus at ${notPrometheus}/, query "up": HTTP 200 with a body that is not Prometheus' JSON: # TYPE`);
  });
});
