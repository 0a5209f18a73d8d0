import { afterEach, describe, expect, it } from 'vitest';
import { ConsulTestServer } from '@portolan/consul-test-server';
import { ConsulAccessDeniedError, ConsulClient, ConsulUnavailableError } from '../consul/consul-client';
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
    expect(await b.remove('one')).toMatchObject({ id: 'one', hash: 'hash-one' });
    expect(b.byHash('hash-one')).toBeUndefined();
    await expect.poll(() => a.byHash('hash-one')).toBeUndefined();
    expect(await a.remove('one')).toBeUndefined();
    const restarted = await open();
    await a.insert(record('two'));
    await expect.poll(() => restarted.all().map((token) => token.id)).toEqual(['two']);
  });

  it('tells the listeners of every replica of a revoked token, once, and keeps each token\'s expiry', async () => {
    const [a, b] = [await open(), await open()];
    const removedOn = { a: [] as string[], b: [] as string[] };
    a.onRemoved((removed) => removedOn.a.push(removed.hash));
    b.onRemoved((removed) => removedOn.b.push(removed.hash));
    await a.insert({ ...record('expiring'), expiresAt: '2027-01-01T00:00:00.000Z' });
    await a.insert(record('kept'));
    await expect.poll(() => b.byHash('hash-expiring')?.expiresAt).toBe('2027-01-01T00:00:00.000Z');
    await expect.poll(() => b.byHash('hash-kept')).toBeDefined();
    await a.remove('expiring');
    expect(removedOn.a).toEqual(['hash-expiring']);
    await expect.poll(() => removedOn.b).toEqual(['hash-expiring']);
    await a.insert(record('later'));
    await expect.poll(() => b.byHash('hash-later')).toBeDefined();
    expect(removedOn).toEqual({ a: ['hash-expiring'], b: ['hash-expiring'] });
  });

  // A key without a value is what the Consul UI leaves when someone creates the "folder" tokens/
  it('skips a key without a value under the prefix, such as the folder the Consul UI creates', async () => {
    target = await startConsulTestTarget();
    const client = target.client();
    await client.kvSet(client.key('tokens') + '/', '');
    const store = await open();
    expect(store.all()).toEqual([]);
    await store.insert(record('one'));
    expect((await open()).all().map((token) => token.id)).toEqual(['one']);
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

describe('API tokens in Consul with an ACL token that may not read them', () => {
  // Consul leaves the keys the token may not read out of a listing and says so in
  // X-Consul-Results-Filtered-By-ACLs (hashicorp/consul agent/consul/kvs_endpoint.go List): taken
  // as the whole list, it would be a mirror without tokens, refusing every API token.
  it('refuses to open with a clear ACL error instead of an empty mirror', async () => {
    const consul = await ConsulTestServer.start({ aclToken: 'admin', acl: { tokens: { limited: { keyPrefixes: { 'portolan/': 'write', 'portolan/tokens/': 'deny' } } } } });
    const admin = new ConsulClient({ address: consul.address, token: 'admin', prefix: 'portolan' });
    const limited = new ConsulClient({ address: consul.address, token: 'limited', prefix: 'portolan' });
    const adminStore = await ConsulApiTokenStore.open(admin);
    try {
      await adminStore.insert(record('existing'));
      const opening = ConsulApiTokenStore.open(limited);
      await expect(opening).rejects.toBeInstanceOf(ConsulAccessDeniedError);
      await expect(opening).rejects.toThrow(/refused reading every key under portolan\/tokens\/ .*CONSUL_HTTP_TOKEN/);
    } finally {
      await adminStore.close();
      admin.close();
      limited.close();
      await consul.close();
    }
  });
});
