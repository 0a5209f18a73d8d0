import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { startConsulTestTarget, type ConsulTestTarget } from '../consul/consul-test-target';
import { sharedCertificateAuthority } from './consul-certificate-authority';

describe('the CA replicas share through Consul', () => {
  let target: ConsulTestTarget;
  beforeAll(async () => {
    target = await startConsulTestTarget();
  });
  afterAll(() => target.close());

  it('is made once: replicas starting together all get the same CA, and a later one gets it too', async () => {
    const [first, second, third] = await Promise.all([target.client(), target.client(), target.client()].map((client) => sharedCertificateAuthority(client)));
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect(new X509Certificate(first.certPem).ca).toBe(true);
    expect(await sharedCertificateAuthority(target.client())).toEqual(first);
  });

  it('says what to do when the stored CA is not one', async () => {
    const client = target.client();
    await client.kvSet(client.key('tls', 'ca'), JSON.stringify({ certPem: 'not a certificate', keyPem: 'nor a key' }));
    await expect(sharedCertificateAuthority(client)).rejects.toThrow(/shared CA in Consul at .*tls\/ca: the CA certificate is not a PEM certificate/);
    await client.kvSet(client.key('tls', 'ca'), '{"certPem": 1}');
    await expect(sharedCertificateAuthority(client)).rejects.toThrow(/delete the key to have a new CA made/);
  });
});
