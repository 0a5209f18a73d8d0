import { afterEach, describe, expect, it } from 'vitest';
import { ConsulTestServer } from '@portolan/consul-test-server';
import { ConsulAccessDeniedError, ConsulClient, ConsulTlsError, ConsulUnavailableError } from './consul-client';
import { waitForConsul } from './wait-for-consul';

describe('waitForConsul (a replica starting while Consul is down)', () => {
  let consul: ConsulTestServer | undefined;
  let client: ConsulClient | undefined;
  afterEach(async () => {
    client?.close();
    await consul?.close();
  });
  const readRevision = () => client!.kvGet('portolan/revision');

  it('prepares at once when Consul answers', async () => {
    consul = await ConsulTestServer.start();
    client = new ConsulClient({ address: consul.address, prefix: 'portolan' });
    const waits: Error[] = [];
    expect(await waitForConsul(client, async () => 'prepared', { onWaiting: (error) => waits.push(error) })).toBe('prepared');
    expect(waits).toEqual([]);
  });

  it('keeps waiting, saying why, while Consul does not answer, and prepares once it is back', async () => {
    consul = await ConsulTestServer.start();
    client = new ConsulClient({ address: consul.address, prefix: 'portolan' });
    await consul.stop();
    const waits: Array<{ message: string; attempt: number }> = [];
    let returned = false;
    const waiting = waitForConsul(client, readRevision, { onWaiting: (error, attempt) => waits.push({ message: error.message, attempt }) }).then(() => (returned = true));
    // The first two tries fail within 3.5 s (first delay at most 1.4 s with cockatiel's jitter).
    await expect.poll(() => waits.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(returned).toBe(false);
    expect(waits[0].message).toContain(`Consul at ${consul.address} is unavailable`);
    expect(waits.map((wait) => wait.attempt)).toEqual(waits.map((_, index) => index + 1));
    await consul.resume();
    await waiting;
    expect(returned).toBe(true);
  }, 30_000);

  it('starts the preparation over when Consul fails halfway through it', async () => {
    consul = await ConsulTestServer.start();
    client = new ConsulClient({ address: consul.address, prefix: 'portolan' });
    let tries = 0;
    const waits: Error[] = [];
    const prepared = await waitForConsul(
      client,
      async () => {
        tries++;
        await readRevision();
        if (tries === 1) throw new ConsulUnavailableError(consul!.address, 'gone after the first read');
        return tries;
      },
      { onWaiting: (error) => waits.push(error) },
    );
    expect(prepared).toBe(2);
    expect(waits.map((error) => error.message)).toEqual([`Consul at ${consul.address} is unavailable (gone after the first read)`]);
  }, 30_000);

  it.each([
    ['an ACL refusal: the token', async (address: string) => { throw new ConsulAccessDeniedError(address, 'reading portolan/revision', 'Permission denied'); }, ConsulAccessDeniedError],
    ['a certificate Consul\'s CA does not verify: CONSUL_CACERT', async (address: string) => { throw new ConsulTlsError(address, 'TLS: self-signed certificate'); }, ConsulTlsError],
  ])('does not wait on %s is the operator\'s to fix', async (_, prepare, type) => {
    consul = await ConsulTestServer.start();
    client = new ConsulClient({ address: consul.address, prefix: 'portolan' });
    const waits: Error[] = [];
    await expect(waitForConsul(client, () => prepare(consul!.address), { onWaiting: (error) => waits.push(error) })).rejects.toBeInstanceOf(type);
    expect(waits).toEqual([]);
  });

  it('does not wait on a real ACL refusal by the double either', async () => {
    consul = await ConsulTestServer.start({ aclToken: 'right-token' });
    client = new ConsulClient({ address: consul.address, token: 'wrong-token', prefix: 'portolan' });
    await expect(waitForConsul(client, readRevision, { onWaiting: () => undefined })).rejects.toBeInstanceOf(ConsulAccessDeniedError);
  });
});
