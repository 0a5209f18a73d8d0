import { afterEach, describe, expect, it } from 'vitest';
import { ConsulUnavailableError } from '../consul/consul-client';
import { startConsulTestTarget, type ConsulTestTarget } from '../consul/consul-test-target';
import { ConsulApiTokenStore, type ApiTokenRecord } from './api-token-store';

const record = (id: string): ApiTokenRecord => ({ id, name: `ci-${id}`, role: 'editor', hash: `hash-${id}`, createdAt: new Date().toISOString(), createdBy: 'admin' });

describe('API tokens in Consul, shared by replicas', () => {
  let target: ConsulTestTarget | undefined;
  const stores: ConsulApiTokenStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    await target?.close();
    target = undefined;
  });
  const open = async () => {
    target ??= await startConsulTestTarget();
    const store = await ConsulApiTokenStore.open(target.client());
    stores.push(store);
    return store;
  };

  it('knows at once a token minted here, and soon one minted or revoked on another replica', async () => {
    const [a, b] = [await open(), await open()];
    await a.insert(record('one'));
    expect(a.byHash('hash-one')?.name).toBe('ci-one');
    await expect.poll(() => b.byHash('hash-one')?.name).toBe('ci-one');
    expect(await b.remove('one')).toBe(true);
    expect(b.byHash('hash-one')).toBeUndefined();
    await expect.poll(() => a.byHash('hash-one')).toBeUndefined();
    expect(await a.remove('one')).toBe(false);
    const restarted = await open();
    await a.insert(record('two'));
    await expect.poll(() => restarted.all().map((token) => token.id)).toEqual(['two']);
  });

  it.skipIf(!!process.env.CONSUL_HTTP_ADDR)('keeps authenticating from its mirror while Consul is down, and refuses to mint', async () => {
    const store = await open();
    await store.insert(record('kept'));
    await target!.double!.stop();
    expect(store.byHash('hash-kept')?.name).toBe('ci-kept');
    await expect(store.insert(record('new'))).rejects.toBeInstanceOf(ConsulUnavailableError);
    await target!.double!.resume();
  });
});
