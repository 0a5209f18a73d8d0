/**
 * The CA the replicas on one Consul share, kept at `<prefix>/tls/ca` (certificate and key, PEM, as
 * JSON). Kuma keeps its builtin CA the same way, as a secret in its own store. A client that trusts
 * it (a kubeconfig any replica printed, a gateway's --ca-file) reaches every replica, so the
 * replicas can sit behind one load balancer or Service. The first replica to start creates it;
 * `cas=0` makes sure two replicas starting together end up with the same one.
 *
 * The key is in Consul KV: the ACL policy that lets a replica write the prefix also reads it. An
 * operator who does not want that sets PORTOLAN_TLS_CA_CERT_FILE and PORTOLAN_TLS_CA_KEY_FILE,
 * and nothing is written here.
 */
import type { ConsulClient } from '../consul/consul-client';
import { checkCertificateAuthority, createCertificateAuthority, type CertificateAuthority } from './certificates';

export async function sharedCertificateAuthority(consul: ConsulClient): Promise<CertificateAuthority> {
  const key = consul.key('tls', 'ca');
  const source = `the shared CA in Consul at ${key}`;
  const stored = await consul.kvGet(key);
  if (stored.value?.Value) return checkCertificateAuthority(parse(stored.value.Value, source), source);
  const created = createCertificateAuthority();
  if (await consul.kvSet(key, JSON.stringify(created), { cas: 0 })) return created;
  // Another replica created it between our read and our write: use theirs.
  const winner = await consul.kvGet(key);
  return checkCertificateAuthority(parse(winner.value?.Value ?? '', source), source);
}

function parse(value: string, source: string): CertificateAuthority {
  try {
    const { certPem, keyPem } = JSON.parse(value) as Partial<CertificateAuthority>;
    if (typeof certPem === 'string' && typeof keyPem === 'string') return { certPem, keyPem };
  } catch {
    // Reported below, with what to do.
  }
  throw new Error(`${source} is not {"certPem": ..., "keyPem": ...}: delete the key to have a new CA made (clients must then trust the new one), or set PORTOLAN_TLS_CA_CERT_FILE and PORTOLAN_TLS_CA_KEY_FILE`);
}
