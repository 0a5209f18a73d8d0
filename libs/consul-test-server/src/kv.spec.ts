import { describe, expect, it } from 'vitest';
import { useConsul } from './testing/harness.js';

const consul = useConsul({ minSessionTtlMs: 100 });
const decode = (value: string | null) => (value === null ? null : Buffer.from(value, 'base64').toString());

async function session(extra: Record<string, unknown> = {}): Promise<string> {
  return (await consul.put('/v1/session/create', { Name: 'test', ...extra })).json.ID;
}

describe('KV store (api-docs/kv)', () => {
  // api-docs/kv Read Key: "If no key exists at the given path, a 404 is returned instead of a 200 response."
  it('reads a key as [{Key, Value (base64), Flags, LockIndex, CreateIndex, ModifyIndex}] and a missing key as 404', async () => {
    expect((await consul.get('/v1/kv/missing')).status).toBe(404);
    const written = await consul.put('/v1/kv/cfg/a', 'hello');
    expect(written.status).toBe(200);
    expect(written.json).toBe(true);
    const read = await consul.get('/v1/kv/cfg/a');
    expect(read.json).toEqual([{ LockIndex: 0, Key: 'cfg/a', Flags: 0, Value: 'aGVsbG8=', CreateIndex: written.index, ModifyIndex: written.index }]);
    expect(read.index).toBe(written.index);
  });

  // api-docs/kv: "The payload is arbitrary, and is loaded directly into Consul as supplied."; an empty payload reads back as null
  it('stores the raw body; an empty body reads back as Value null; ?raw returns the bytes as text/plain', async () => {
    const bytes = Buffer.from([0, 255, 10, 13, 200]);
    await consul.put('/v1/kv/bin', bytes);
    const raw = await fetch(`${consul.server.address}/v1/kv/bin?raw`);
    expect(raw.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(Buffer.from(await raw.arrayBuffer())).toEqual(bytes);
    await consul.put('/v1/kv/empty', '');
    expect((await consul.get('/v1/kv/empty')).json[0].Value).toBeNull();
  });

  // api-docs/kv `flags`: "Specifies an unsigned value between 0 and (2^64)-1"
  it('stores ?flags with the entry', async () => {
    await consul.put('/v1/kv/f?flags=42', 'x');
    expect((await consul.get('/v1/kv/f')).json[0].Flags).toBe(42);
    expect((await consul.put('/v1/kv/f?flags=-1', 'x')).status).toBe(400);
  });

  // api-docs/kv `recurse`: key "treated as a prefix"; X-Consul-Index "corresponds to the latest ModifyIndex within the prefix"
  it('lists a prefix with ?recurse, sorted by key, with the latest ModifyIndex as X-Consul-Index; an empty prefix is a 404', async () => {
    await consul.put('/v1/kv/web/b', '2');
    const last = await consul.put('/v1/kv/web/a', '1');
    await consul.put('/v1/kv/webster', 'not under web/');
    const listed = await consul.get('/v1/kv/web/?recurse');
    expect(listed.json.map((entry: { Key: string }) => entry.Key)).toEqual(['web/a', 'web/b']);
    expect(listed.index).toBe(last.index);
    expect((await consul.get('/v1/kv/nothing/?recurse')).status).toBe(404);
  });

  // api-docs/kv `keys`: "return only keys"; `separator`: "limit the prefix of keys returned, only up to the given separator"
  it('lists keys only with ?keys, and folds them at ?separator', async () => {
    for (const key of ['web/bar', 'web/foo', 'web/subdir/x', 'web/subdir/y']) await consul.put(`/v1/kv/${key}`, 'v');
    expect((await consul.get('/v1/kv/web/?keys')).json).toEqual(['web/bar', 'web/foo', 'web/subdir/x', 'web/subdir/y']);
    expect((await consul.get('/v1/kv/web/?keys&separator=/')).json).toEqual(['web/bar', 'web/foo', 'web/subdir/']);
  });

  // api-docs/kv `cas`: "If the index is 0, Consul will only put the key if it does not already exist. If the index is non-zero, the key is only set if the index matches the ModifyIndex of that key."
  it('check-and-sets: cas=0 only creates, cas=N only replaces ModifyIndex N', async () => {
    expect((await consul.put('/v1/kv/c?cas=0', 'first')).json).toBe(true);
    expect((await consul.put('/v1/kv/c?cas=0', 'second')).json).toBe(false);
    const { ModifyIndex } = (await consul.get('/v1/kv/c')).json[0];
    expect((await consul.put(`/v1/kv/c?cas=${ModifyIndex + 1}`, 'stale')).json).toBe(false);
    expect((await consul.put(`/v1/kv/c?cas=${ModifyIndex}`, 'third')).json).toBe(true);
    expect((await consul.put(`/v1/kv/c?cas=${ModifyIndex}`, 'again')).json).toBe(false);
    expect(decode((await consul.get('/v1/kv/c')).json[0].Value)).toBe('third');
    expect((await consul.put('/v1/kv/absent?cas=7', 'x')).json).toBe(false);
  });

  // api-docs/kv Delete Key: deletes "a single key or all keys sharing a prefix"; `cas`: "a 0 index will not delete the key"
  it('deletes a key, a prefix with ?recurse, and with ?cas only at the matching ModifyIndex', async () => {
    for (const key of ['d/1', 'd/2', 'keep']) await consul.put(`/v1/kv/${key}`, 'v');
    expect((await consul.call('DELETE', '/v1/kv/d/?recurse')).json).toBe(true);
    expect((await consul.get('/v1/kv/d/?recurse')).status).toBe(404);
    expect((await consul.get('/v1/kv/keep')).status).toBe(200);
    const { ModifyIndex } = (await consul.get('/v1/kv/keep')).json[0];
    expect((await consul.call('DELETE', '/v1/kv/keep?cas=0')).json).toBe(false);
    expect((await consul.call('DELETE', `/v1/kv/keep?cas=${ModifyIndex + 1}`)).json).toBe(false);
    expect((await consul.call('DELETE', `/v1/kv/keep?cas=${ModifyIndex}`)).json).toBe(true);
    expect((await consul.get('/v1/kv/keep')).status).toBe(404);
  });

  // One raft index for everything: each write takes the next index, whatever it writes
  it('takes ModifyIndex and CreateIndex from the single raft index that every write increments', async () => {
    const a = await consul.put('/v1/kv/a', '1');
    await session(); // a session write in between also takes an index
    const b = await consul.put('/v1/kv/a', '2');
    expect(b.index).toBe(a.index + 2);
    expect(consul.server.index).toBe(b.index);
    const entry = (await consul.get('/v1/kv/a')).json[0];
    expect(entry).toMatchObject({ CreateIndex: a.index, ModifyIndex: b.index });
    expect((await consul.put('/v1/kv/a?cas=0', 'no')).json).toBe(false);
    expect(consul.server.index).toBe(b.index); // a refused write takes no index
  });

  // api-docs/kv: "Values in the KV store cannot be larger than 512kb."
  it('refuses a value over 512kB with 413', async () => {
    expect((await consul.put('/v1/kv/big', Buffer.alloc(512 * 1024 + 1))).status).toBe(413);
    expect((await consul.put('/v1/kv/big', Buffer.alloc(512 * 1024))).json).toBe(true);
  });
});

describe('KV locks (api-docs/kv acquire/release, docs/automate/session "K/V Integration")', () => {
  // api-docs/kv `acquire`: "If the lock is not held and the session is valid, this increments the LockIndex and sets the Session value"
  // and "If the lock is already held by the given session, then the LockIndex is not incremented but the key contents are updated"
  it('acquires a free lock (LockIndex + 1, Session set), lets the holder update it without a new LockIndex, and refuses another session', async () => {
    const holder = await session();
    const other = await session();
    expect((await consul.put(`/v1/kv/leader?acquire=${holder}`, 'me')).json).toBe(true);
    expect((await consul.get('/v1/kv/leader')).json[0]).toMatchObject({ LockIndex: 1, Session: holder });
    expect((await consul.put(`/v1/kv/leader?acquire=${holder}`, 'still me')).json).toBe(true);
    const entry = (await consul.get('/v1/kv/leader')).json[0];
    expect(entry).toMatchObject({ LockIndex: 1, Session: holder });
    expect(decode(entry.Value)).toBe('still me');
    expect((await consul.put(`/v1/kv/leader?acquire=${other}`, 'them')).json).toBe(false);
  });

  // api-docs/kv: "Note that an update that does not include the acquire parameter will proceed normally even if another session has locked the key."
  it('lets a plain write through on a locked key and keeps the lock', async () => {
    const holder = await session();
    await consul.put(`/v1/kv/leader?acquire=${holder}`, 'me');
    expect((await consul.put('/v1/kv/leader', 'anyone')).json).toBe(true);
    expect((await consul.get('/v1/kv/leader')).json[0]).toMatchObject({ Session: holder, LockIndex: 1 });
  });

  // docs/automate/session: acquire "can only succeed if ... the session is valid". hashicorp/consul
  // agent/consul/state/kvs.go kvsLockTxn: `invalid session %#v`, which KVS.Apply returns as "raft apply
  // failed: ..." and the HTTP layer as a 500 (not a 4xx, though the request is at fault)
  it('refuses to acquire with an unknown session with a 500 "invalid session" (an error, not false)', async () => {
    const answer = await consul.put('/v1/kv/leader?acquire=00000000-0000-0000-0000-000000000000', 'x');
    expect(answer.status).toBe(500);
    expect(answer.text).toBe('raft apply failed: invalid session "00000000-0000-0000-0000-000000000000"');
  });

  // api-docs/kv `release`: "This will leave the LockIndex unmodified but will clear the associated Session of the key. The key must be held by this session to be unlocked."
  it('releases only for the holding session: Session cleared, LockIndex kept, ModifyIndex moves', async () => {
    const holder = await session();
    const other = await session();
    await consul.put(`/v1/kv/leader?acquire=${holder}`, 'me');
    expect((await consul.put(`/v1/kv/leader?release=${other}`, 'x')).json).toBe(false);
    const before = (await consul.get('/v1/kv/leader')).json[0];
    expect((await consul.put(`/v1/kv/leader?release=${holder}`, 'me')).json).toBe(true);
    const after = (await consul.get('/v1/kv/leader')).json[0];
    expect(after.Session).toBeUndefined();
    expect(after.LockIndex).toBe(1);
    expect(after.ModifyIndex).toBeGreaterThan(before.ModifyIndex);
  });

  // docs/automate/session: lock-delay applies "When a session invalidation takes place"; an explicit release is not one
  it('starts no lock-delay on an explicit release: another session acquires at once (LockIndex 2)', async () => {
    const holder = await session();
    const other = await session();
    await consul.put(`/v1/kv/leader?acquire=${holder}`, 'me');
    await consul.put(`/v1/kv/leader?release=${holder}`, 'me');
    expect((await consul.put(`/v1/kv/leader?acquire=${other}`, 'them')).json).toBe(true);
    expect((await consul.get('/v1/kv/leader')).json[0]).toMatchObject({ Session: other, LockIndex: 2 });
  });
});

describe('KV under ACL key rules (docs/security/acl/acl-rules "Key/Value Rules"; hashicorp/consul agent/consul/kvs_endpoint.go)', () => {
  const as = (token: string) => ({ headers: { 'X-Consul-Token': token } });
  const start = () =>
    consul.start({
      aclToken: 'admin',
      acl: { tokens: { app: { keyPrefixes: { '': 'read', 'app/': 'write', 'app/secret/': 'deny' } }, reader: { keyPrefixes: { 'app/': 'read' } } } },
    });

  // acl-rules: "the most specific prefix match determines the action"; write "allow the resource to be read and modified", read "but not modified", deny "do not allow the resource to be read or modified"
  it('lets the most specific key_prefix rule decide: write, read, deny, and deny for a key no rule matches', async () => {
    await start();
    for (const key of ['app/a', 'app/secret/s', 'other']) await consul.put(`/v1/kv/${key}`, 'v', as('admin'));
    expect((await consul.put('/v1/kv/app/a', 'w', as('app'))).json).toBe(true);
    expect((await consul.get('/v1/kv/other', as('app'))).status).toBe(200);
    expect((await consul.put('/v1/kv/other', 'w', as('app'))).status).toBe(403);
    expect((await consul.get('/v1/kv/app/secret/s', as('app'))).status).toBe(403);
    expect((await consul.get('/v1/kv/other', as('reader'))).status).toBe(403);
  });

  // kvs_endpoint.go Get: KeyReadAllowed fails the read, whether or not the key exists; acl/errors.go: "Permission denied: token with AccessorID '...' lacks permission 'key:read' on "...""
  it('answers a single-key read the token may not do with 403 "Permission denied", even for a key that does not exist', async () => {
    await start();
    await consul.put('/v1/kv/app/secret/s', 'v', as('admin'));
    const denied = await consul.get('/v1/kv/app/secret/s', as('app'));
    expect(denied.status).toBe(403);
    expect(denied.text).toMatch(/^Permission denied: token with AccessorID '[0-9a-f-]{36}' lacks permission 'key:read' on "app\/secret\/s"$/);
    expect((await consul.get('/v1/kv/app/secret/missing', as('app'))).status).toBe(403);
  });

  // kvs_endpoint.go Apply -> kvsPreApply: KeyWriteAllowed for set, cas, acquire and release
  it('answers a write the token may not do with 403 "Permission denied ... key:write", writing nothing', async () => {
    await start();
    const before = consul.server.index;
    const denied = await consul.put('/v1/kv/app/x', 'v', as('reader'));
    expect(denied.status).toBe(403);
    expect(denied.text).toMatch(/^Permission denied: .* lacks permission 'key:write' on "app\/x"$/);
    expect(consul.server.index).toBe(before);
  });

  // kvs_endpoint.go List / ListKeys: FilterDirEnt, then `reply.QueryMeta.ResultsFilteredByACLs = total != len(ent)`; agent/http.go setResultsFilteredByACLs sets the header only when true
  it('leaves unreadable keys out of ?recurse and ?keys listings with X-Consul-Results-Filtered-By-ACLs: true', async () => {
    await start();
    for (const key of ['app/a', 'app/b', 'app/secret/s']) await consul.put(`/v1/kv/${key}`, 'v', as('admin'));
    const listed = await consul.get('/v1/kv/app/?recurse', as('app'));
    expect(listed.json.map((entry: { Key: string }) => entry.Key)).toEqual(['app/a', 'app/b']);
    expect(listed.headers.get('x-consul-results-filtered-by-acls')).toBe('true');
    const keys = await consul.get('/v1/kv/app/?keys', as('app'));
    expect(keys.json).toEqual(['app/a', 'app/b']);
    expect(keys.headers.get('x-consul-results-filtered-by-acls')).toBe('true');
    const whole = await consul.get('/v1/kv/app/?recurse', as('admin'));
    expect(whole.json).toHaveLength(3);
    expect(whole.headers.get('x-consul-results-filtered-by-acls')).toBeNull();
  });

  // kvs_endpoint.go List leaves no entries when every key was filtered; the HTTP handler answers no entries with 404
  it('answers a listing whose every key is unreadable with 404, still saying it filtered', async () => {
    await start();
    await consul.put('/v1/kv/app/secret/s', 'v', as('admin'));
    const hidden = await consul.get('/v1/kv/app/secret/?recurse', as('app'));
    expect(hidden.status).toBe(404);
    expect(hidden.headers.get('x-consul-results-filtered-by-acls')).toBe('true');
  });

  // kvsPreApply: a recursive delete needs KeyWritePrefix, i.e. no rule under the prefix that grants less than write
  it('refuses a recursive delete over a prefix holding a key the token may not write, deleting nothing', async () => {
    await start();
    for (const key of ['app/a', 'app/secret/s']) await consul.put(`/v1/kv/${key}`, 'v', as('admin'));
    expect((await consul.call('DELETE', '/v1/kv/app/?recurse', as('app'))).status).toBe(403);
    expect((await consul.get('/v1/kv/app/?recurse', as('admin'))).json).toHaveLength(2);
    expect((await consul.call('DELETE', '/v1/kv/app/a', as('app'))).json).toBe(true);
  });
});
