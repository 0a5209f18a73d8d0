import { describe, expect, it } from 'vitest';
import { blockingParameters, DEFAULT_WAIT_MS, holdTime, MAX_WAIT_MS } from './blocking.js';
import type { ConsulRequest } from './http.js';
import { sleep, useConsul } from './testing/harness.js';

const consul = useConsul();

describe('blocking queries (api-docs/features/blocking)', () => {
  // api-docs/features/blocking: "Endpoints that support blocking queries return an HTTP header named X-Consul-Index"
  it('answers a plain read at once with X-Consul-Index, X-Consul-KnownLeader, X-Consul-LastContact and JSON', async () => {
    await consul.put('/v1/kv/a', 'x');
    const answer = await consul.get('/v1/kv/a');
    expect(answer.status).toBe(200);
    expect(answer.index).toBe(answer.json[0].ModifyIndex);
    expect(answer.headers.get('x-consul-knownleader')).toBe('true');
    expect(answer.headers.get('x-consul-lastcontact')).toBe('0');
    expect(answer.headers.get('content-type')).toBe('application/json');
  });

  // api-docs/features/blocking: "the client can set the index query string parameter ... indicating that the client wishes to wait for any changes subsequent to that index"
  it('holds a query at the current index until the result changes, then answers with the new index', async () => {
    const first = await consul.put('/v1/kv/a', 'one');
    expect(first.json).toBe(true);
    const { index } = await consul.get('/v1/kv/a');
    const started = Date.now();
    const pending = consul.get(`/v1/kv/a?index=${index}&wait=5s`);
    await sleep(150);
    await consul.put('/v1/kv/a', 'two');
    const answer = await pending;
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(answer.index).toBeGreaterThan(index);
    expect(Buffer.from(answer.json[0].Value, 'base64').toString()).toBe('two');
  });

  // api-docs/features/blocking: "the return of a blocking request is no guarantee of a change. It is possible that the timeout was reached"
  // and "A small random amount of additional wait time is added ... This adds up to wait / 16 additional time"
  it('answers with the same index when the wait elapses without a change, after wait and at most wait/16 of jitter', async () => {
    await consul.put('/v1/kv/a', 'one');
    const { index } = await consul.get('/v1/kv/a');
    const started = Date.now();
    const answer = await consul.get(`/v1/kv/a?index=${index}&wait=400ms`);
    const elapsed = Date.now() - started;
    expect(answer.status).toBe(200);
    expect(answer.index).toBe(index);
    expect(elapsed).toBeGreaterThanOrEqual(395);
    expect(elapsed).toBeLessThan(400 + 400 / 16 + 250); // + scheduling slack
    expect(holdTime(1_600, () => 0)).toBe(1_600);
    expect(holdTime(1_600, () => 1)).toBe(1_700);
  });

  // api-docs/features/blocking: "If not set, the wait time defaults to 5 minutes ... This is limited to 10 minutes."
  // (The parser itself: a real 10-minute hold would not fit in a test.)
  it('defaults wait to 5m and caps it at 10m; a malformed wait or index is a 400', async () => {
    const request = (query: Record<string, string>) => ({ query }) as unknown as ConsulRequest;
    expect(blockingParameters(request({ index: '5' }))).toEqual({ index: 5, waitMs: DEFAULT_WAIT_MS });
    expect(blockingParameters(request({ index: '5', wait: '20m' }))).toEqual({ index: 5, waitMs: MAX_WAIT_MS });
    expect(blockingParameters(request({ index: '5', wait: '100ms' }))).toEqual({ index: 5, waitMs: 100 });
    expect(blockingParameters(request({ wait: '1s' }))).toBeUndefined();
    expect((await consul.get('/v1/kv/a?index=1&wait=soon')).status).toBe(400);
    expect((await consul.get('/v1/kv/a?index=abc')).status).toBe(400);
  });

  // api-docs/features/blocking: an index of 0 is the initial request; it never blocks
  it('answers at once for index=0 and for an index lower than the current one', async () => {
    await consul.put('/v1/kv/a', 'one');
    await consul.put('/v1/kv/a', 'two');
    const started = Date.now();
    const zero = await consul.get('/v1/kv/a?index=0&wait=5s');
    const behind = await consul.get(`/v1/kv/a?index=${zero.index - 1}&wait=5s`);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(behind.index).toBe(zero.index);
  });

  // api-docs/features/blocking: "Reset the index if it goes backwards ... Implementations must check to see if a returned index is lower than the previous value"
  it('answers at once when the client index is ahead of the resource (index went backwards), so the client can reset', async () => {
    await consul.put('/v1/kv/a', 'one');
    const { index } = await consul.get('/v1/kv/a');
    const started = Date.now();
    const answer = await consul.get(`/v1/kv/a?index=${index + 1000}&wait=5s`);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(answer.index).toBe(index);
  });

  // api-docs/features/blocking: "It is always safe to use an index of 1 to wait for updates when the data being requested doesn't exist yet"
  it('never reports index 0: a key never written reports 1 and a blocking read at 1 waits for its creation', async () => {
    const missing = await consul.get('/v1/kv/never');
    expect(missing.status).toBe(404);
    expect(missing.index).toBeGreaterThanOrEqual(1);
    const pending = consul.get(`/v1/kv/never?index=${missing.index}&wait=5s`);
    await sleep(100);
    const write = await consul.put('/v1/kv/never', 'now');
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(answer.index).toBe(write.index);
  });

  // api-docs/kv: deletions must move the index too (a deleted key reports the index of its deletion)
  it('wakes a reader blocked on a key when the key is deleted, with the index of the deletion', async () => {
    await consul.put('/v1/kv/a', 'one');
    const { index } = await consul.get('/v1/kv/a');
    const pending = consul.get(`/v1/kv/a?index=${index}&wait=5s`);
    await sleep(100);
    await consul.call('DELETE', '/v1/kv/a');
    const answer = await pending;
    expect(answer.status).toBe(404);
    expect(answer.index).toBe(consul.server.index);
    expect(answer.index).toBeGreaterThan(index);
  });

  // api-docs/kv: "if ?recurse is provided, the returned X-Consul-Index corresponds to the latest ModifyIndex within the prefix, and a blocking query using that ?index will wait until any key within that prefix is updated"
  it('holds a recurse read until a key under the prefix changes, and ignores writes outside it', async () => {
    await consul.put('/v1/kv/app/a', '1');
    await consul.put('/v1/kv/app/b', '2');
    const { index } = await consul.get('/v1/kv/app/?recurse');
    const pending = consul.get(`/v1/kv/app/?recurse&index=${index}&wait=5s`);
    await sleep(100);
    await consul.put('/v1/kv/other', 'x'); // outside the prefix: no wake-up
    await sleep(100);
    await consul.call('DELETE', '/v1/kv/app/a');
    const answer = await pending;
    expect(answer.index).toBe(consul.server.index);
    expect(answer.json.map((entry: { Key: string }) => entry.Key)).toEqual(['app/b']);
  });

  // Outage: blocking queries end early when the server is stopped (the client sees a socket error)
  it('ends in-flight blocking queries with a socket error on stop(), keeps the state, and resumes on the same port', async () => {
    await consul.put('/v1/kv/a', 'kept');
    const { index } = await consul.get('/v1/kv/a');
    const port = consul.server.port;
    const pending = consul.get(`/v1/kv/a?index=${index}&wait=5s`);
    await sleep(100);
    const started = Date.now();
    await consul.server.stop();
    await expect(pending).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(1_000);
    await expect(consul.get('/v1/kv/a')).rejects.toThrow();
    await consul.server.resume();
    expect(consul.server.port).toBe(port);
    const after = await consul.get('/v1/kv/a');
    expect(Buffer.from(after.json[0].Value, 'base64').toString()).toBe('kept');
    expect(consul.server.requests.some((request) => request.path === '/v1/kv/a' && request.query.index === String(index))).toBe(true);
  });
});
