/**
 * The `consul` npm client (2.0.1, what the adapter will use) against the double: proof that the
 * two agree on paths, encodings and parameters. Its bundled types lack index/wait/ctx on read
 * options (see the toolchain notes on the client, §9), hence the casts.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import Consul from 'consul';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, useConsul } from './testing/harness.js';

const double = useConsul();
let client: Consul | undefined;

afterEach(() => {
  client?.destroy();
  client = undefined;
});

/** A read through the client that also returns X-Consul-Index (the client's `includeResponse` context). */
async function withIndex<T>(call: (ctx: EventEmitter) => Promise<unknown>): Promise<{ body: T; index: string }> {
  const ctx = Object.assign(new EventEmitter(), { includeResponse: true });
  const [response, body] = (await call(ctx)) as [IncomingMessage, T];
  return { body, index: String(response.headers['x-consul-index']) };
}

describe('the consul npm client against the double', () => {
  it('sets KV with cas, creates a session, registers a service, reads passing health and blocks on it with index/wait', async () => {
    client = new Consul({ host: double.server.host, port: double.server.port, secure: false });

    // kv.set with cas: 0 creates only; then the ModifyIndex the client read back. Quirk of the client
    // (papi's pipeline): a `false` body resolves as undefined, so callers must test `=== true`.
    expect(await client.kv.set({ key: 'cfg/a', value: 'v1', cas: 0 })).toBe(true);
    expect(await client.kv.set({ key: 'cfg/a', value: 'v1-again', cas: 0 })).toBeUndefined();
    const read = (await client.kv.get('cfg/a')) as { Value: string; ModifyIndex: number };
    expect(read.Value).toBe('v1');
    expect(await client.kv.set({ key: 'cfg/a', value: 'v2', cas: read.ModifyIndex })).toBe(true);
    expect(double.server.requests).toContainEqual({ method: 'PUT', path: '/v1/kv/cfg/a', query: { cas: String(read.ModifyIndex) } });

    // session.create and a lock with it
    const session = (await client.session.create({ name: 'leader', ttl: '15s', behavior: 'delete', lockdelay: '1s' })) as { ID: string };
    expect(session.ID).toMatch(/^[0-9a-f-]{36}$/);
    expect(await client.kv.set({ key: 'leader', value: 'me', acquire: session.ID })).toBe(true);

    // agent.service.register with a TTL check (the client's CheckOptions wants a timeout it does not send for TTL checks)
    await client.agent.service.register({
      name: 'gateway',
      id: 'gw-1',
      address: '127.0.0.1',
      port: 8080,
      tags: ['v1'],
      meta: { zone: 'a' },
      check: { name: 'ttl', ttl: '15s', deregistercriticalserviceafter: '1m' },
    } as unknown as Parameters<Consul['agent']['service']['register']>[0]);
    expect((await client.health.service({ service: 'gateway', passing: true })) as unknown[]).toEqual([]);

    // a blocking health.service with index/wait wakes when the TTL check passes
    const before = await withIndex<unknown[]>((ctx) => client!.health.service({ service: 'gateway', passing: true, ctx } as never));
    const blocking = withIndex<Array<{ Service: { ID: string } }>>((ctx) =>
      client!.health.service({ service: 'gateway', passing: true, index: before.index, wait: '5s', timeout: 6_000, ctx } as never),
    );
    await sleep(150);
    await client.agent.check.pass({ id: 'service:gw-1', note: 'ok' });
    const after = await blocking;
    expect(Number(after.index)).toBeGreaterThan(Number(before.index));
    expect(after.body.map((entry) => entry.Service.ID)).toEqual(['gw-1']);
    expect(double.server.requests).toContainEqual({
      method: 'GET',
      path: '/v1/health/service/gateway',
      query: { passing: 'true', index: before.index, wait: '5s' },
    });
  });
});
