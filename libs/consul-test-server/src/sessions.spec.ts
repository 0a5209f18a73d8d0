import { describe, expect, it } from 'vitest';
import { sleep, useConsul } from './testing/harness.js';

const TTL_MS = 400;
const consul = useConsul({ minSessionTtlMs: 100 });

async function create(body: Record<string, unknown> = {}): Promise<string> {
  const answer = await consul.put('/v1/session/create', { Name: 'lock', ...body });
  expect(answer.status).toBe(200);
  return answer.json.ID;
}

const info = async (id: string) => (await consul.get(`/v1/session/info/${id}`)).json as unknown[];

describe('sessions (api-docs/session, docs/automate/session)', () => {
  // api-docs/session Create: LockDelay (string: "15s"), Node (string: "<agent>"), Behavior (string: "release"), NodeChecks default serfHealth
  it('creates a session with the documented defaults and reads it back with info and list', async () => {
    const id = await create();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const [session] = (await info(id)) as Array<Record<string, unknown>>;
    expect(session).toMatchObject({ ID: id, Name: 'lock', Node: 'portolan-test-node', LockDelay: 15_000_000_000, Behavior: 'release', TTL: '', NodeChecks: ['serfHealth'] });
    expect((await consul.get('/v1/session/list')).json.map((entry: { ID: string }) => entry.ID)).toEqual([id]);
    expect((await consul.get('/v1/session/node/portolan-test-node')).json).toHaveLength(1);
  });

  // api-docs/session TTL: "Specifies the duration of a session (between 10s and 86400s)". hashicorp/consul
  // agent/session_endpoint.go only decodes the body (TTL is a string there); agent/consul/session_endpoint.go
  // Session.Apply checks it, `Invalid Session TTL '%d', must be between [%v=%v]` (%d of a Duration:
  // nanoseconds) and `Session TTL '%s' invalid: %v`, and the HTTP layer answers an RPC error with 500
  it('refuses a TTL outside 10s..86400s, or not a duration, with a 500 and Consul\'s text (the lower bound is minSessionTtlMs)', async () => {
    await consul.start({ minSessionTtlMs: 10_000 });
    const short = await consul.put('/v1/session/create', { TTL: '5s' });
    expect(short.status).toBe(500);
    expect(short.text).toBe("Invalid Session TTL '5000000000', must be between [10s=24h0m0s]");
    expect((await consul.put('/v1/session/create', { TTL: '86401s' })).status).toBe(500);
    expect((await consul.put('/v1/session/create', { TTL: '10s' })).status).toBe(200);
    expect((await consul.put('/v1/session/create', { TTL: '86400s' })).status).toBe(200);
    const unreadable = await consul.put('/v1/session/create', { TTL: 'soon' });
    expect(unreadable.status).toBe(500);
    expect(unreadable.text).toBe('Session TTL \'soon\' invalid: time: invalid duration "soon"');
  });

  // agent/consul/session_endpoint.go Session.Apply: `Invalid Behavior setting '%s'`, an RPC error, hence a 500
  it('refuses a Behavior other than release or delete with a 500', async () => {
    const answer = await consul.put('/v1/session/create', { Behavior: 'keep' });
    expect(answer.status).toBe(500);
    expect(answer.text).toBe("Invalid Behavior setting 'keep'");
  });

  // docs/automate/session: lock-delay "is a time duration, between 0 and 60 seconds"
  it('refuses a lock-delay over 60s', async () => {
    expect((await consul.put('/v1/session/create', { LockDelay: '61s' })).status).toBe(400);
    expect((await consul.put('/v1/session/create', { LockDelay: '60s' })).status).toBe(200);
  });

  // docs/automate/session: "The contract of a TTL is that it represents a lower bound for invalidation; that is, Consul will not expire the session before the TTL is reached"
  // api-docs/session: "sessions may not be reaped for up to double this TTL". The double invalidates right after the TTL (see sessions.ts).
  it('keeps an unrenewed session valid just before its TTL and invalid after twice the TTL; renewing it then is a 404', async () => {
    const id = await create({ TTL: `${TTL_MS}ms` });
    await sleep(TTL_MS - 150);
    expect(await info(id)).toHaveLength(1);
    await sleep(TTL_MS + 150); // past 2 x TTL since creation
    expect(await info(id)).toEqual([]);
    expect((await consul.put(`/v1/session/renew/${id}`)).status).toBe(404);
  });

  // api-docs/session Renew: "it extends the expiration by the TTL" and answers the session
  it('extends the expiration by the TTL on each renewal and answers [session]', async () => {
    const id = await create({ TTL: `${TTL_MS}ms` });
    for (let round = 0; round < 5; round += 1) {
      await sleep(TTL_MS / 2);
      const renewed = await consul.put(`/v1/session/renew/${id}`);
      expect(renewed.status).toBe(200);
      expect(renewed.json[0].ID).toBe(id);
    }
    expect(await info(id)).toHaveLength(1); // 2.5 TTLs after creation
  });

  // api-docs/session Delete: "If the session UUID does not exist or already expired, a 200 is still returned (the operation is idempotent)."
  it('destroys a session (true), idempotently', async () => {
    const id = await create();
    expect((await consul.put(`/v1/session/destroy/${id}`)).json).toBe(true);
    expect(await info(id)).toEqual([]);
    expect((await consul.put(`/v1/session/destroy/${id}`)).json).toBe(true);
  });

  // docs/automate/session: "If the release behavior is being used, any of the locks held in association with the session are released, and the ModifyIndex of the key is incremented"
  // and lock-delay: "Consul prevents any of the previously held locks from being re-acquired for the lock-delay interval"
  it('on expiry releases its locks (Session cleared, LockIndex kept, ModifyIndex moves) and holds them in lock-delay', async () => {
    const holder = await create({ TTL: `${TTL_MS}ms`, LockDelay: '600ms' });
    const other = await create();
    await consul.put(`/v1/kv/leader?acquire=${holder}`, 'me');
    const before = (await consul.get('/v1/kv/leader')).json[0];
    await sleep(TTL_MS + 100);
    const released = (await consul.get('/v1/kv/leader')).json[0];
    expect(released.Session).toBeUndefined();
    expect(released.LockIndex).toBe(1);
    expect(released.ModifyIndex).toBeGreaterThan(before.ModifyIndex);
    expect((await consul.put(`/v1/kv/leader?acquire=${other}`, 'them')).json).toBe(false); // within lock-delay
    await sleep(600);
    expect((await consul.put(`/v1/kv/leader?acquire=${other}`, 'them')).json).toBe(true);
  });

  // docs/automate/session: "Session is explicitly destroyed" is an invalidation too, so lock-delay applies
  it('on destroy releases its locks under lock-delay', async () => {
    const holder = await create({ LockDelay: '400ms' });
    const other = await create();
    await consul.put(`/v1/kv/leader?acquire=${holder}`, 'me');
    await consul.put(`/v1/session/destroy/${holder}`);
    expect((await consul.put(`/v1/kv/leader?acquire=${other}`, 'them')).json).toBe(false);
    await sleep(450);
    expect((await consul.put(`/v1/kv/leader?acquire=${other}`, 'them')).json).toBe(true);
  });

  // docs/automate/session: "clients are able to disable this mechanism by providing a zero delay value"
  it('allows re-acquiring at once with LockDelay "0s"', async () => {
    const holder = await create({ LockDelay: '0s' });
    const other = await create();
    await consul.put(`/v1/kv/leader?acquire=${holder}`, 'me');
    await consul.put(`/v1/session/destroy/${holder}`);
    expect((await consul.put(`/v1/kv/leader?acquire=${other}`, 'them')).json).toBe(true);
  });

  // docs/automate/session: "if the delete behavior is used, the key corresponding to any of the held locks is simply deleted"
  it('with Behavior "delete" deletes the keys it holds when invalidated', async () => {
    const holder = await create({ TTL: `${TTL_MS}ms`, Behavior: 'delete' });
    await consul.put(`/v1/kv/ephemeral?acquire=${holder}`, 'me');
    await consul.put('/v1/kv/unlocked', 'stays');
    await sleep(TTL_MS + 100);
    expect((await consul.get('/v1/kv/ephemeral')).status).toBe(404);
    expect((await consul.get('/v1/kv/unlocked')).status).toBe(200);
  });

  // Outage: the double keeps expiring sessions while its listener is stopped, as Consul servers do for unreachable clients
  it('keeps expiring sessions while stopped', async () => {
    const id = await create({ TTL: `${TTL_MS}ms` });
    await consul.server.stop();
    await sleep(TTL_MS + 100);
    await consul.server.resume();
    expect(await info(id)).toEqual([]);
  });

  // api-docs/session Read Session: blocking queries YES
  it('wakes a blocked session/info read when the session is invalidated', async () => {
    const id = await create();
    const { index } = await consul.get(`/v1/session/info/${id}`);
    const pending = consul.get(`/v1/session/info/${id}?index=${index}&wait=5s`);
    await sleep(100);
    await consul.put(`/v1/session/destroy/${id}`);
    const answer = await pending;
    expect(answer.json).toEqual([]);
    expect(answer.index).toBeGreaterThan(index);
  });
});
