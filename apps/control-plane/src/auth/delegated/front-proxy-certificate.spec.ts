import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { PresentedCertificate } from '../../tls/client-certificate';
import { verifyFrontProxyCertificate } from './front-proxy-certificate';
import type { FrontProxyTrust } from './request-header';
import { testCertificateAuthority, testClientCertificate, testIntermediateAuthority, type TestCertificate } from './testing/test-certificates';

const frontProxyCa = testCertificateAuthority('front-proxy-ca');
const otherCa = testCertificateAuthority('front-proxy-ca');
const intermediate = testIntermediateAuthority(frontProxyCa, 'front-proxy-intermediate');

const trust = (allowedNames: string[] = ['front-proxy-client'], ca = frontProxyCa): FrontProxyTrust => ({ caPem: ca.certPem, cas: [new X509Certificate(ca.certPem)], allowedNames });
const presented = (...chain: TestCertificate[]): PresentedCertificate => ({
  chain: chain.map((certificate) => new X509Certificate(certificate.certPem)),
  commonName: chain[0].forge.subject.getField('CN').value as string,
});

describe('verifyFrontProxyCertificate', () => {
  const hour = 3600_000;

  it.each<[string, PresentedCertificate | undefined, FrontProxyTrust | undefined, RegExp | true]>([
    ['kubeadm\'s front-proxy-client certificate', presented(testClientCertificate(frontProxyCa, 'front-proxy-client')), trust(), true],
    ['any CN the CA signed when requestheader-allowed-names is empty', presented(testClientCertificate(frontProxyCa, 'aggregator')), trust([]), true],
    ['a certificate signed through an intermediate the client presented', presented(testClientCertificate(intermediate, 'front-proxy-client'), intermediate), trust(), true],
    ['no certificate at all', undefined, trust(), /without a TLS client certificate/],
    ['the right CN from another CA (same CA name, other key)', presented(testClientCertificate(otherCa, 'front-proxy-client')), trust(), /is not signed by the front-proxy CA/],
    ['the front-proxy CA\'s signature on a CN not allowed', presented(testClientCertificate(frontProxyCa, 'mallory')), trust(), /CN "mallory" is not in requestheader-allowed-names \["front-proxy-client"\]/],
    ['an intermediate the client did not present', presented(testClientCertificate(intermediate, 'front-proxy-client')), trust(), /is not signed by the front-proxy CA/],
    ['an expired certificate', presented(testClientCertificate(frontProxyCa, 'front-proxy-client', { notBefore: new Date(Date.now() - 2 * hour), notAfter: new Date(Date.now() - hour) })), trust(), /expired on/],
    ['a certificate not yet valid', presented(testClientCertificate(frontProxyCa, 'front-proxy-client', { notBefore: new Date(Date.now() + hour), notAfter: new Date(Date.now() + 2 * hour) })), trust(), /is not valid before/],
    ['a server certificate', presented(testClientCertificate(frontProxyCa, 'front-proxy-client', { usage: 'serverAuth' })), trust(), /not for client authentication/],
    ['any certificate when kube-apiserver has no front proxy', presented(testClientCertificate(frontProxyCa, 'front-proxy-client')), undefined, /publishes no requestheader-client-ca-file/],
  ])('%s', (_case, certificate, frontProxyTrust, expected) => {
    const verdict = verifyFrontProxyCertificate(certificate, frontProxyTrust);
    if (expected === true) expect(verdict).toEqual({ trusted: true, commonName: certificate!.commonName });
    else expect(verdict).toMatchObject({ trusted: false, reason: expect.stringMatching(expected) });
  });

  it('believes the next CA of a rotated bundle', () => {
    const next = testCertificateAuthority('front-proxy-ca-2');
    const bundle: FrontProxyTrust = { caPem: '', cas: [frontProxyCa, next].map((ca) => new X509Certificate(ca.certPem)), allowedNames: [] };
    expect(verifyFrontProxyCertificate(presented(testClientCertificate(next, 'front-proxy-client')), bundle)).toMatchObject({ trusted: true });
  });
});
