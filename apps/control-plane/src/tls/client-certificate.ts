/**
 * TLS client certificates on the API's HTTPS server, which asks every client for one and requires
 * none: reading what a client presented, and whether a CA bundle vouches for it (signed directly
 * or through intermediates the client sent, valid now, usable for client authentication), as Go's
 * x509 verifier decides. Two callers with their own rules on top: kube-apiserver's front proxy
 * (auth/delegated/front-proxy-certificate.ts) and gateways on the agent protocol
 * (auth/agent-certificate/).
 *
 * Checked per request, not trusted from the TLS handshake: the server verifies nothing itself
 * (rejectUnauthorized is off so that clients without certificates still reach the API).
 */
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';

/** What a client presented: its certificate first, then whatever intermediates it sent. */
export interface PresentedCertificate {
  chain: X509Certificate[];
  /** The subject CN of the first certificate; the last one when the subject has several, as Go reads it. */
  commonName?: string;
}

export type ChainVerdict = { trusted: true } | { trusted: false; reason: string };

export interface ChainRules {
  /** Who the bundle is, for the refusal: "the front-proxy CA (requestheader-client-ca-file)". */
  issuerDescription: string;
  /**
   * `explicit`: the client certificate must list clientAuth (or anyExtendedKeyUsage) among its
   * extended key usages. `unless-restricted`: Go's rule, a certificate listing none may be used for anything.
   */
  clientAuthUsage: 'explicit' | 'unless-restricted';
  now: Date;
}

export class CertificateBundleError extends Error {
  readonly code = 'PORTOLAN_CERTIFICATE_BUNDLE';
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';
/** Longer chains than this are not something a client presents. */
const MAX_CHAIN_LENGTH = 8;

/** Every certificate of a PEM bundle; CertificateBundleError naming `source` when there is none or one cannot be read. */
export function parseCertificateBundle(pem: string, source: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new CertificateBundleError(`${source} holds no PEM certificate`);
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new CertificateBundleError(`${source}: certificate ${index + 1} cannot be read (${(error as Error).message})`);
    }
  });
}

/** The certificate a TLS client presented on `socket`; undefined for plain sockets and clients that sent none. */
export function presentedCertificate(socket: Socket): PresentedCertificate | undefined {
  const tls = socket as Partial<TLSSocket>;
  if (typeof tls.getPeerCertificate !== 'function') return undefined;
  const peer = tls.getPeerCertificate(true);
  if (!peer?.raw) return undefined;
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  let current: DetailedPeerCertificate | undefined = peer;
  while (current?.raw && !seen.has(current.fingerprint256) && chain.length < MAX_CHAIN_LENGTH) {
    seen.add(current.fingerprint256);
    chain.push(new X509Certificate(current.raw));
    current = current.issuerCertificate;
  }
  const commonName = peer.subject?.CN as string | string[] | undefined;
  return { chain, commonName: Array.isArray(commonName) ? commonName[commonName.length - 1] : commonName };
}

export function describeCertificate(certificate: X509Certificate): string {
  return certificate.subject.split('\n').join(', ');
}

function issued(issuer: X509Certificate, subject: X509Certificate): boolean {
  return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
}

function validityProblem(certificate: X509Certificate, now: Date): string | undefined {
  if (now < new Date(certificate.validFrom)) return `the certificate (${describeCertificate(certificate)}) is not valid before ${certificate.validFrom}`;
  if (now > new Date(certificate.validTo)) return `the certificate (${describeCertificate(certificate)}) expired on ${certificate.validTo}`;
  return undefined;
}

function allowsClientAuth(certificate: X509Certificate, rule: ChainRules['clientAuthUsage']): boolean {
  const usages = certificate.keyUsage;
  if (!usages || usages.length === 0) return rule === 'unless-restricted';
  return usages.includes(CLIENT_AUTH) || usages.includes(ANY_EXTENDED_KEY_USAGE);
}

/** Whether one of `cas` vouches for the presented client certificate; the reason names what is wrong when not. */
export function verifyClientCertificateChain(presented: PresentedCertificate | undefined, cas: readonly X509Certificate[], rules: ChainRules): ChainVerdict {
  if (!presented || presented.chain.length === 0) return { trusted: false, reason: 'the request came without a TLS client certificate' };
  const [leaf, ...intermediates] = presented.chain;
  if (!allowsClientAuth(leaf, rules.clientAuthUsage)) {
    return { trusted: false, reason: `the client certificate (${describeCertificate(leaf)}) is not for client authentication (extended key usage clientAuth is missing)` };
  }
  const used = new Set<string>();
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN_LENGTH; depth++) {
    const problem = validityProblem(current, rules.now);
    if (problem) return { trusted: false, reason: problem };
    if (cas.some((ca) => issued(ca, current) && validityProblem(ca, rules.now) === undefined)) return { trusted: true };
    // Intermediates follow Go's rule whatever the leaf's: CA certificates rarely list extended key usages.
    const next = intermediates.find((candidate) => !used.has(candidate.fingerprint256) && candidate.ca && allowsClientAuth(candidate, 'unless-restricted') && issued(candidate, current));
    if (!next) break;
    used.add(next.fingerprint256);
    current = next;
  }
  return { trusted: false, reason: `the client certificate (${describeCertificate(leaf)}) is not signed by ${rules.issuerDescription}` };
}
