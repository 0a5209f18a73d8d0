import { describe, expect, it } from 'vitest';
import { useConsul } from './testing/harness.js';

const consul = useConsul();
const b64 = (text: string) => Buffer.from(text).toString('base64');
const kv = (op: Record<string, unknown>) => ({ KV: op });

describe('transactions (api-docs/txn)', () => {
  // api-docs/txn: "a status code of 200 will be returned if it was successfully applied"; "the Value for KV results will be null for any Verb other than get or get-tree"
  it('applies set, cas and get together: 200 {Results, Errors: null}, write results without Value, get with it', async () => {
    const first = await consul.put('/v1/kv/b', 'old');
    const answer = await consul.put('/v1/txn', [
      kv({ Verb: 'set', Key: 'a', Value: b64('A'), Flags: 3 }),
      kv({ Verb: 'cas', Key: 'b', Value: b64('B'), Index: first.index }),
      kv({ Verb: 'get', Key: 'b' }),
    ]);
    expect(answer.status).toBe(200);
    expect(answer.json.Errors).toBeNull();
    const [set, cas, get] = answer.json.Results.map((result: { KV: Record<string, unknown> }) => result.KV);
    expect(set).toMatchObject({ Key: 'a', Value: null, Flags: 3 });
    expect(cas).toMatchObject({ Key: 'b', Value: null });
    expect(get).toMatchObject({ Key: 'b', Value: b64('B') });
  });

  // One raft index per transaction: all its writes share it
  it('gives every write of one transaction the same new ModifyIndex, one index after the last write', async () => {
    const before = consul.server.index;
    const answer = await consul.put('/v1/txn', [kv({ Verb: 'set', Key: 'x', Value: b64('1') }), kv({ Verb: 'set', Key: 'y', Value: b64('2') })]);
    const indexes = answer.json.Results.map((result: { KV: { ModifyIndex: number } }) => result.KV.ModifyIndex);
    expect(indexes).toEqual([before + 1, before + 1]);
    expect(consul.server.index).toBe(before + 1);
  });

  // api-docs/txn: "If any operation fails, the transaction is rolled back and none of the changes are applied" ... "a status code of 409 will be returned if it was rolled back"
  it('rolls everything back when one op fails: 409 {Results: null, Errors: [{OpIndex, What}]} and no new index', async () => {
    await consul.put('/v1/kv/b', 'old');
    const before = consul.server.index;
    const answer = await consul.put('/v1/txn', [
      kv({ Verb: 'set', Key: 'a', Value: b64('A') }),
      kv({ Verb: 'cas', Key: 'b', Value: b64('B'), Index: 1 }),
      kv({ Verb: 'check-not-exists', Key: 'b' }),
    ]);
    expect(answer.status).toBe(409);
    expect(answer.json.Results).toBeNull();
    expect(answer.json.Errors).toEqual([
      { OpIndex: 1, What: 'failed to set key "b", index is stale' },
      { OpIndex: 2, What: 'key "b" exists' },
    ]);
    expect((await consul.get('/v1/kv/a')).status).toBe(404);
    expect(consul.server.index).toBe(before);
  });

  // api-docs/txn: "If the transaction does not contain any write operations then it will be fast-pathed internally to an endpoint that works like other reads"
  it('answers a read-only transaction (get, get-tree, check-index, check-not-exists) with 200 and takes no index', async () => {
    const written = await consul.put('/v1/kv/app/a', '1');
    await consul.put('/v1/kv/app/b', '2');
    const before = consul.server.index;
    const answer = await consul.put('/v1/txn', [
      kv({ Verb: 'get-tree', Key: 'app/' }),
      kv({ Verb: 'check-index', Key: 'app/a', Index: written.index }),
      kv({ Verb: 'check-not-exists', Key: 'app/c' }),
    ]);
    expect(answer.status).toBe(200);
    const results = answer.json.Results.map((result: { KV: { Key: string; Value: string | null } }) => [result.KV.Key, result.KV.Value]);
    expect(results).toEqual([
      ['app/a', b64('1')],
      ['app/b', b64('2')],
      ['app/a', null],
    ]);
    expect(consul.server.index).toBe(before);
    const failing = await consul.put('/v1/txn', [kv({ Verb: 'get', Key: 'app/missing' }), kv({ Verb: 'check-index', Key: 'app/a', Index: written.index + 99 })]);
    expect(failing.status).toBe(409);
    expect(failing.json.Errors.map((error: { OpIndex: number }) => error.OpIndex)).toEqual([0, 1]);
  });

  // api-docs/txn verbs lock / unlock / check-session: "Lock with the given Session", "Unlock with the given Session", "Fail if not locked by session"
  it('locks, checks the session and unlocks inside transactions', async () => {
    const session = (await consul.put('/v1/session/create', {})).json.ID;
    const locked = await consul.put('/v1/txn', [kv({ Verb: 'lock', Key: 'leader', Value: b64('me'), Session: session })]);
    expect(locked.json.Results[0].KV).toMatchObject({ Key: 'leader', Session: session, LockIndex: 1 });
    expect((await consul.put('/v1/txn', [kv({ Verb: 'check-session', Key: 'leader', Session: session })])).status).toBe(200);
    const unlocked = await consul.put('/v1/txn', [kv({ Verb: 'unlock', Key: 'leader', Value: b64('me'), Session: session })]);
    expect(unlocked.status).toBe(200);
    expect((await consul.put('/v1/txn', [kv({ Verb: 'check-session', Key: 'leader', Session: session })])).status).toBe(409);
    const badSession = await consul.put('/v1/txn', [kv({ Verb: 'lock', Key: 'leader', Value: b64('x'), Session: 'nope' })]);
    expect(badSession.status).toBe(409);
  });

  // docs/automate/session lock-delay, which Consul also enforces on txn lock ops ("failed to lock key ... due to lock delay")
  it('fails a lock op during the key lock-delay', async () => {
    const holder = (await consul.put('/v1/session/create', { LockDelay: '5s' })).json.ID;
    const other = (await consul.put('/v1/session/create', {})).json.ID;
    await consul.put(`/v1/kv/leader?acquire=${holder}`, 'me');
    await consul.put(`/v1/session/destroy/${holder}`);
    const answer = await consul.put('/v1/txn', [kv({ Verb: 'lock', Key: 'leader', Value: b64('them'), Session: other })]);
    expect(answer.status).toBe(409);
    expect(answer.json.Errors[0].What).toBe('failed to lock key "leader" due to lock delay');
  });

  // api-docs/txn: "no result entries will be added for verbs that delete keys"; delete-cas: "Delete, but with CAS semantics"
  it('deletes with delete, delete-tree and delete-cas, returning no results for them', async () => {
    const c = await consul.put('/v1/kv/c', '1');
    for (const key of ['a', 't/1', 't/2']) await consul.put(`/v1/kv/${key}`, '1');
    const stale = await consul.put('/v1/txn', [kv({ Verb: 'delete-cas', Key: 'c', Index: c.index + 100 })]);
    expect(stale.status).toBe(409);
    const answer = await consul.put('/v1/txn', [kv({ Verb: 'delete', Key: 'a' }), kv({ Verb: 'delete-tree', Key: 't/' }), kv({ Verb: 'delete-cas', Key: 'c', Index: c.index })]);
    expect(answer.status).toBe(200);
    expect(answer.json.Results).toEqual([]);
    for (const key of ['a', 't/1', 't/2', 'c']) expect((await consul.get(`/v1/kv/${key}`)).status).toBe(404);
  });

  // Consul's HTTP endpoint: more than 64 operations is a 413 ("Transaction contains too many operations"); a body it cannot decode is a 400
  it('refuses more than 64 ops with 413 and a malformed body with 400', async () => {
    const ops = Array.from({ length: 65 }, (_, n) => kv({ Verb: 'set', Key: `k${n}`, Value: b64('v') }));
    const tooMany = await consul.put('/v1/txn', ops);
    expect(tooMany.status).toBe(413);
    expect(tooMany.text).toBe('Transaction contains too many operations (65 > 64)');
    expect((await consul.put('/v1/txn', ops.slice(0, 64))).status).toBe(200);
    expect((await consul.put('/v1/txn', '[{"KV": ')).status).toBe(400);
    expect((await consul.put('/v1/txn', { KV: {} })).status).toBe(400);
    expect((await consul.put('/v1/txn', [kv({ Verb: 'set', Key: 'a', Value: '%%%' })])).status).toBe(400);
  });

  // agent configuration docs, txn_max_req_len: "the maximum number of bytes for a transaction request body ... defaults to 524288 (512 KiB)"
  it('refuses a transaction whose body is over txn_max_req_len with 413, applying nothing', async () => {
    const quarter = b64('x'.repeat(150 * 1024));
    const tooBig = await consul.put('/v1/txn', [kv({ Verb: 'set', Key: 'big/1', Value: quarter }), kv({ Verb: 'set', Key: 'big/2', Value: quarter }), kv({ Verb: 'set', Key: 'big/3', Value: quarter })]);
    expect(tooBig.status).toBe(413);
    expect(tooBig.text).toMatch(/too large, max size: 524288 bytes/);
    expect((await consul.get('/v1/kv/big/1')).status).toBe(404);
  });
});

describe('transactions under ACL key rules (hashicorp/consul agent/consul/txn_endpoint.go, kvs_endpoint.go kvsPreApply, acl.go FilterTxnResults)', () => {
  const as = { headers: { 'X-Consul-Token': 'app' } };
  const admin = { headers: { 'X-Consul-Token': 'admin' } };
  const start = async () => {
    await consul.start({ aclToken: 'admin', acl: { tokens: { app: { keyPrefixes: { 'app/': 'write', 'ro/': 'read' } } } } });
    for (const key of ['app/a', 'ro/r', 'hidden/h']) await consul.put(`/v1/kv/${key}`, key, admin);
  };

  // txn_endpoint.go Apply: preCheck runs kvsPreApply on every op first, each failure a TxnError{OpIndex, What: err.Error()}, and returns them without applying anything
  it('fails a transaction with a write the token may not do: 409, every refused op as "Permission denied ... key:write", nothing applied', async () => {
    await start();
    const before = consul.server.index;
    const answer = await consul.put(
      '/v1/txn',
      [kv({ Verb: 'set', Key: 'app/b', Value: b64('b') }), kv({ Verb: 'cas', Key: 'ro/r', Value: b64('x'), Index: 0 }), kv({ Verb: 'delete', Key: 'hidden/h' })],
      as,
    );
    expect(answer.status).toBe(409);
    expect(answer.json.Results).toBeNull();
    expect(answer.json.Errors.map((error: { OpIndex: number }) => error.OpIndex)).toEqual([1, 2]);
    expect(answer.json.Errors[0].What).toMatch(/^Permission denied: token with AccessorID '[0-9a-f-]{36}' lacks permission 'key:write' on "ro\/r"$/);
    expect((await consul.get('/v1/kv/app/b', admin)).status).toBe(404);
    expect(consul.server.index).toBe(before);
  });

  // txn_endpoint.go Read: "For simple reads such as KVGet and KVGetTree, the txn succeeds but the offending results are omitted"; then
  // `reply.QueryMeta.ResultsFilteredByACLs = total != len(reply.Results)`; TxnReadResponse embeds QueryMeta, so the flag is in the body
  it('drops get and get-tree results the token may not read from a read-only transaction and says ResultsFilteredByACLs in the body', async () => {
    await start();
    const answer = await consul.put('/v1/txn', [kv({ Verb: 'get', Key: 'hidden/h' }), kv({ Verb: 'get', Key: 'ro/r' }), kv({ Verb: 'get-tree', Key: '' })], as);
    expect(answer.status).toBe(200);
    expect(answer.json.Results.map((result: { KV: { Key: string } }) => result.KV.Key)).toEqual(['ro/r', 'app/a', 'ro/r']);
    expect(answer.json).toMatchObject({ Errors: null, KnownLeader: true, ResultsFilteredByACLs: true });
    // agent/txn_endpoint.go sets only X-Consul-LastContact and X-Consul-KnownLeader for a read-only transaction
    expect(answer.headers.get('x-consul-results-filtered-by-acls')).toBeNull();
    const whole = await consul.put('/v1/txn', [kv({ Verb: 'get-tree', Key: 'app/' })], as);
    expect(whole.json.ResultsFilteredByACLs).toBe(false);
  });

  // kvsPreApply: check-index and check-session "could reveal information based on the outcome", so they need key:read before anything runs
  it('fails a check-index on a key the token may not read with "Permission denied ... key:read"', async () => {
    await start();
    const answer = await consul.put('/v1/txn', [kv({ Verb: 'check-index', Key: 'hidden/h', Index: 1 })], as);
    expect(answer.status).toBe(409);
    expect(answer.json.Errors[0].What).toMatch(/lacks permission 'key:read' on "hidden\/h"$/);
  });

  // txn_endpoint.go Apply filters the results of a writing transaction too, but its TxnResponse has no QueryMeta to say so
  it('drops unreadable results from a writing transaction without any sign of it', async () => {
    await start();
    const answer = await consul.put('/v1/txn', [kv({ Verb: 'set', Key: 'app/c', Value: b64('c') }), kv({ Verb: 'get', Key: 'hidden/h' })], as);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ Results: [{ KV: expect.objectContaining({ Key: 'app/c' }) }], Errors: null });
  });
});
