import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureServingCertificate } from '../tls/certificates';
import { ConsulTestServer } from '@portolan/consul-test-server';
import { ConsulAbortedError, ConsulAccessDeniedError, ConsulClient, ConsulRequestError, ConsulUnavailableError } from './consul-client';

describe('ConsulClient against the Consul API test double', () => {
  let consul: ConsulTestServer | undefined;
  const clients: ConsulClient[] = [];
  const open = async (token?: string) => {
    consul ??= await ConsulTestServer.start({ aclToken: 'right-token' });
    const client = new ConsulClient({ address: consul.address, token, prefix: '/portolan/' });
    clients.push(client);
    return client;
  };
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await consul?.close();
    consul = undefined;
  });

  it('keeps keys under the prefix it was given, however it was written', async () => {
    const client = await open('right-token');
    expect(client.key('resources', 'Service')).toBe('portolan/resources/Service');
  });

  it('tells the operator which setting to fix when Consul refuses the ACL token', async () => {
    const client = await open('wrong-token');
    const refused = client.kvGet('portolan/revision');
    await expect(refused).rejects.toBeInstanceOf(ConsulAccessDeniedError);
    await expect(refused).rejects.toThrow(/CONSUL_HTTP_TOKEN/);
  });

  it('reports Consul unavailable (not a crash, not a 404) when nothing answers', async () => {
    const client = await open('right-token');
    await consul!.stop();
    await expect(client.kvSet('portolan/x', '1')).rejects.toBeInstanceOf(ConsulUnavailableError);
    await expect(client.kvGet('portolan/x')).rejects.toThrow(/Consul at http:\/\/127\.0\.0\.1:\d+ is unavailable/);
    await consul!.resume();
    // The breaker lets a trial call through a second after the last failure.
    await expect.poll(() => client.kvSet('portolan/x', '1').catch(() => false), { timeout: 5_000, interval: 200 }).toBe(true);
  });

  it('answers a failed check-and-set with false and a failed transaction with the operation that failed', async () => {
    const client = await open('right-token');
    expect(await client.kvSet('portolan/a', '1', { cas: 0 })).toBe(true);
    expect(await client.kvSet('portolan/a', '2', { cas: 0 })).toBe(false);
    const { value } = await client.kvGet('portolan/a');
    const result = await client.txn([
      { Verb: 'set', Key: 'portolan/b', Value: 'b' },
      { Verb: 'cas', Key: 'portolan/a', Value: '3', Index: value!.ModifyIndex - 1 },
    ]);
    expect(result).toMatchObject({ ok: false, errors: [{ OpIndex: 1 }] });
    expect((await client.kvGet('portolan/b')).value).toBeUndefined();
  });

  // Consul answers these with 500 (its HTTP layer's answer to any RPC error), yet Consul is up: an
  // acquire with a session it no longer knows (state/kvs.go `invalid session "<id>"`), a session TTL
  // outside its limits (session_endpoint.go `Invalid Session TTL '<ns>', must be between [...]`).
  it('takes Consul\'s 500 for an acquire with an expired session, or a TTL it refuses, as a refused request: the next call goes through', async () => {
    consul = await ConsulTestServer.start({ minSessionTtlMs: 100 });
    const client = new ConsulClient({ address: consul.address, prefix: 'portolan' });
    clients.push(client);
    const session = await client.sessionCreate({ name: 'expiring', ttl: '100ms', lockDelay: '0s', behavior: 'release' });
    await expect.poll(() => client.sessionInfo(session), { timeout: 5_000 }).toBeFalsy();

    const acquire = client.kvSet('portolan/leader', 'me', { acquire: session });
    await expect(acquire).rejects.toBeInstanceOf(ConsulRequestError);
    await expect(acquire).rejects.toThrow(/invalid session/);
    expect(await client.sessionRenew(session)).toBe(false);

    await expect(client.sessionCreate({ name: 'too short', ttl: '10ms', lockDelay: '0s', behavior: 'release' })).rejects.toThrow(/rejected creating a session: 500 Invalid Session TTL '10000000'/);
    expect(await client.kvSet('portolan/after', 'yes')).toBe(true);
  });

  it('holds a blocking read until the key changes, and lets an AbortSignal end it', async () => {
    const client = await open('right-token');
    await client.kvSet('portolan/watched', 'one');
    const { index } = await client.kvGet('portolan/watched');
    const held = client.kvGet('portolan/watched', { index, wait: '10s' });
    await client.kvSet('portolan/watched', 'two');
    const answer = await held;
    expect(answer.value?.Value).toBe('two');
    expect(answer.index).toBeGreaterThan(index);

    const stop = new AbortController();
    const cancelled = client.kvGet('portolan/watched', { index: answer.index, wait: '10s', signal: stop.signal });
    stop.abort();
    await expect(cancelled).rejects.toBeInstanceOf(ConsulAbortedError);
  });

  it('during a partition, waits out two calls and then fails the next ones at once until a trial gets through', async () => {
    // A Consul address that accepts connections and never answers: packets dropped on the way back.
    const sockets: Socket[] = [];
    const blackhole = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const client = new ConsulClient({ address: `127.0.0.1:${(blackhole.address() as AddressInfo).port}`, prefix: 'portolan', callTimeoutMs: 300 });
    clients.push(client);
    try {
      let started = Date.now();
      await expect(client.kvSet('portolan/x', '1')).rejects.toBeInstanceOf(ConsulUnavailableError);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      // One timeout is not yet a partition (a busy Consul answers late once): the next call is still tried.
      started = Date.now();
      await expect(client.kvGet('portolan/x')).rejects.toThrow(/is unavailable \(reading portolan\/x: (?!not tried)/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      const connections = sockets.length;
      started = Date.now();
      await expect(client.kvSet('portolan/x', '1')).rejects.toThrow(/not tried, Consul did not answer a moment ago/);
      await expect(client.updateTtlCheck('service:x', 'passing', '')).rejects.toBeInstanceOf(ConsulUnavailableError);
      expect(Date.now() - started).toBeLessThan(250);
      expect(sockets.length).toBe(connections);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackhole.close(resolve));
    }
  });

  it('speaks HTTPS to a Consul whose certificate CONSUL_CACERT signed, and refuses one it cannot verify', async () => {
    consul = await ConsulTestServer.start();
    const dir = mkdtempSync(join(tmpdir(), 'portolan-consul-tls-'));
    const certificate = ensureServingCertificate(dir, []);
    // TLS in front of the double, as Consul's HTTPS listener would be.
    const tlsFront = createHttpsServer({ key: certificate.keyPem, cert: certificate.certPem }, (incoming, outgoing) => {
      const forwarded = httpRequest({ host: consul!.host, port: consul!.port, path: incoming.url, method: incoming.method, headers: incoming.headers }, (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      });
      incoming.pipe(forwarded);
    });
    await new Promise<void>((resolve) => tlsFront.listen(0, '127.0.0.1', resolve));
    const address = `https://127.0.0.1:${(tlsFront.address() as AddressInfo).port}`;
    try {
      const trusting = new ConsulClient({ address, caFile: certificate.caFile, prefix: 'portolan' });
      const untrusting = new ConsulClient({ address, prefix: 'portolan' });
      clients.push(trusting, untrusting);
      expect(await trusting.kvSet('portolan/over-tls', 'yes')).toBe(true);
      expect((await trusting.kvGet('portolan/over-tls')).value?.Value).toBe('yes');
      await expect(untrusting.kvGet('portolan/over-tls')).rejects.toThrow(/unavailable .*TLS: .*set CONSUL_CACERT/);
    } finally {
      tlsFront.closeAllConnections();
      await new Promise((resolve) => tlsFront.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
