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
import { verifyClientCertificateChain, type PresentedCertificate } from '../../tls/client-certificate';
import type { FrontProxyTrust } from './request-header';

export type FrontProxyVerdict = { trusted: true; commonName: string } | { trusted: false; reason: string };

export function verifyFrontProxyCertificate(presented: PresentedCertificate | undefined, trust: FrontProxyTrust | undefined, now: Date = new Date()): FrontProxyVerdict {
  if (!presented || presented.chain.length === 0) return { trusted: false, reason: 'the request came without a TLS client certificate' };
  if (!trust) {
    return {
      trusted: false,
      reason: 'kube-apiserver publishes no requestheader-client-ca-file (it runs without --requestheader-client-ca-file, so it has no front proxy); no certificate is a front-proxy certificate',
    };
  }
  const chain = verifyClientCertificateChain(presented, trust.cas, { issuerDescription: 'the front-proxy CA (requestheader-client-ca-file)', clientAuthUsage: 'unless-restricted', now });
  if (!chain.trusted) return chain;
  const commonName = presented.commonName ?? '';
  if (trust.allowedNames.length > 0 && !trust.allowedNames.includes(commonName)) {
    return { trusted: false, reason: `the client certificate's CN ${JSON.stringify(commonName)} is not in requestheader-allowed-names ${JSON.stringify(trust.allowedNames)}` };
  }
  return { trusted: true, commonName };
}
