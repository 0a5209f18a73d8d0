import { afterEach, describe, expect, it } from 'vitest';
import { ConsulTestServer } from '@portolan/consul-test-server';
import { ConsulAccessDeniedError, ConsulClient } from './consul-client';
import { waitForConsul } from './wait-for-consul';

describe('waitForConsul (a replica starting while Consul is down)', () => {
  let consul: ConsulTestServer | undefined;
  let client: ConsulClient | undefined;
  afterEach(async () => {
    client?.close();
    await consul?.close();
  });

  it('returns at once when Consul answers', async () => {
    consul = await ConsulTestServer.start();
    client = new ConsulClient({ address: consul.address, prefix: 'portolan' });
    const waits: Error[] = [];
    await waitForConsul(client, { onWaiting: (error) => waits.push(error) });
    expect(waits).toEqual([]);
  });

  it('keeps waiting, saying why, while Consul does not answer, and returns once it is back', async () => {
    consul = await ConsulTestServer.start();
    client = new ConsulClient({ address: consul.address, prefix: 'portolan' });
    await consul.stop();
    const waits: Array<{ message: string; attempt: number }> = [];
    let returned = false;
    const waiting = waitForConsul(client, { onWaiting: (error, attempt) => waits.push({ message: error.message, attempt }) }).then(() => (returned = true));
    // Backoff 1 s then 2 s: two failed tries are seen within 3.5 s.
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    expect(returned).toBe(false);
    expect(waits.length).toBeGreaterThanOrEqual(2);
    expect(waits[0].message).toContain(`Consul at ${consul.address} is unavailable`);
    expect(waits.map((wait) => wait.attempt)).toEqual(waits.map((_, index) => index + 1));
    await consul.resume();
    await waiting;
    expect(returned).toBe(true);
  }, 30_000);

  it('does not wait on an ACL refusal: the token is the operator\'s to fix', async () => {
    consul = await ConsulTestServer.start({ aclToken: 'right-token' });
    client = new ConsulClient({ address: consul.address, token: 'wrong-token', prefix: 'portolan' });
    const waits: Error[] = [];
    await expect(waitForConsul(client, { onWaiting: (error) => waits.push(error) })).rejects.toBeInstanceOf(ConsulAccessDeniedError);
    expect(waits).toEqual([]);
  });

  it('stops waiting when its signal aborts', async () => {
    consul = await ConsulTestServer.start();
    client = new ConsulClient({ address: consul.address, prefix: 'portolan' });
    await consul.stop();
    const abort = new AbortController();
    const waiting = waitForConsul(client, { onWaiting: () => abort.abort(), signal: abort.signal });
    await expect(waiting).rejects.toThrow();
  }, 30_000);
});
