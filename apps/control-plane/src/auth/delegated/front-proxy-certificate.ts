/**
 * Whether the TLS client certificate of a request is kube-apiserver's front-proxy certificate:
 * signed (directly or through intermediates the client presented) by a CA of
 * `requestheader-client-ca-file`, valid now, usable for client authentication, and with a CN in
 * `requestheader-allowed-names` when that list is not empty. The same checks as k8s.io/apiserver's
 * x509 verifier in front of the requestheader authenticator.
 *
 * Checked per request against the CA bundle of that moment rather than once at the TLS handshake,
 * so a rotated front-proxy CA stops being believed on connections opened before the rotation.
 */
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type { FrontProxyTrust } from './request-header';

/** What a client presented: its certificate first, then whatever intermediates it sent. */
export interface PresentedCertificate {
  chain: X509Certificate[];
  /** The subject CN of the first certificate; the last one when the subject has several, as Go reads it. */
  commonName?: string;
}

export type FrontProxyVerdict = { trusted: true; commonName: string } | { trusted: false; reason: string };

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';
/** Longer chains than this are not something kube-apiserver's front proxy presents. */
const MAX_CHAIN_LENGTH = 8;

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

function describe(certificate: X509Certificate): string {
  return certificate.subject.split('\n').join(', ');
}

function issued(issuer: X509Certificate, subject: X509Certificate): boolean {
  return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
}

function validityProblem(certificate: X509Certificate, now: Date): string | undefined {
  if (now < new Date(certificate.validFrom)) return `the certificate (${describe(certificate)}) is not valid before ${certificate.validFrom}`;
  if (now > new Date(certificate.validTo)) return `the certificate (${describe(certificate)}) expired on ${certificate.validTo}`;
  return undefined;
}

/** Go's x509 rule: a certificate without extended key usages may be used for anything. */
function allowsClientAuth(certificate: X509Certificate): boolean {
  const usages = certificate.keyUsage;
  return !usages || usages.length === 0 || usages.includes(CLIENT_AUTH) || usages.includes(ANY_EXTENDED_KEY_USAGE);
}

export function verifyFrontProxyCertificate(presented: PresentedCertificate | undefined, trust: FrontProxyTrust | undefined, now: Date = new Date()): FrontProxyVerdict {
  if (!presented || presented.chain.length === 0) return { trusted: false, reason: 'the request came without a TLS client certificate' };
  if (!trust) {
    return {
      trusted: false,
      reason: 'kube-apiserver publishes no requestheader-client-ca-file (it runs without --requestheader-client-ca-file, so it has no front proxy); no certificate is a front-proxy certificate',
    };
  }
  const [leaf, ...intermediates] = presented.chain;
  if (!allowsClientAuth(leaf)) return { trusted: false, reason: `the client certificate (${describe(leaf)}) is not for client authentication (extended key usage clientAuth is missing)` };
  const used = new Set<string>();
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN_LENGTH; depth++) {
    const problem = validityProblem(current, now);
    if (problem) return { trusted: false, reason: problem };
    const anchor = trust.cas.find((ca) => issued(ca, current) && validityProblem(ca, now) === undefined);
    if (anchor) {
      const commonName = presented.commonName ?? '';
      if (trust.allowedNames.length > 0 && !trust.allowedNames.includes(commonName)) {
        return { trusted: false, reason: `the client certificate's CN ${JSON.stringify(commonName)} is not in requestheader-allowed-names ${JSON.stringify(trust.allowedNames)}` };
      }
      return { trusted: true, commonName };
    }
    const next = intermediates.find((candidate) => !used.has(candidate.fingerprint256) && candidate.ca && allowsClientAuth(candidate) && issued(candidate, current));
    if (!next) break;
    used.add(next.fingerprint256);
    current = next;
  }
  return { trusted: false, reason: `the client certificate (${describe(leaf)}) is not signed by the front-proxy CA (requestheader-client-ca-file)` };
}
