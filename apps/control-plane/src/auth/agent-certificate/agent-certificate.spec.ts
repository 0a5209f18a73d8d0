import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AgentIdentity } from '@portolan/agent-client';
import type { PresentedCertificate } from '../../tls/client-certificate';
import { testCertificateAuthority, testClientCertificate, testIntermediateAuthority, type TestCertificate } from '../delegated/testing/test-certificates';
import { nodeMismatch, registrationMismatch, verifyAgentCertificate } from './agent-certificate';

const agentCa = testCertificateAuthority('portolan agent CA');
// Same subject, other key: only the signature tells them apart.
const otherCa = testCertificateAuthority('portolan agent CA');
const intermediate = testIntermediateAuthority(agentCa, 'portolan agent intermediate');
const cas = [new X509Certificate(agentCa.certPem)];

const GATEWAY_A = 'spiffe://portolan/ns/default/gateway/edge-a';
const NOW = new Date();
const HOUR = 3600_000;

const presented = (...chain: TestCertificate[]): PresentedCertificate => ({ chain: chain.map((certificate) => new X509Certificate(certificate.certPem)) });
const gatewayCertificate = (options: Parameters<typeof testClientCertificate>[2] = {}, issuer = agentCa) => presented(testClientCertificate(issuer, 'edge-a', { uris: [GATEWAY_A], ...options }));

describe('verifyAgentCertificate', () => {
  it.each<[string, PresentedCertificate | undefined, RegExp]>([
    ['no certificate', undefined, /^Unauthorized: the request came without a TLS client certificate; the agent protocol needs one signed by the agent CA \(PORTOLAN_TLS_AGENT_CLIENT_CA_FILE\): start the gateway with --client-cert and --client-key$/],
    ['a certificate from another CA with the same name', gatewayCertificate({}, otherCa), /^Unauthorized: the client certificate \(CN=edge-a\) is not signed by the agent CA \(PORTOLAN_TLS_AGENT_CLIENT_CA_FILE\)$/],
    ['an intermediate the client did not send', gatewayCertificate({}, intermediate), /is not signed by the agent CA/],
    ['an expired certificate', gatewayCertificate({ notBefore: new Date(NOW.getTime() - 2 * HOUR), notAfter: new Date(NOW.getTime() - HOUR) }), /^Unauthorized: the certificate \(CN=edge-a\) expired on /],
    ['a certificate not valid yet', gatewayCertificate({ notBefore: new Date(NOW.getTime() + HOUR), notAfter: new Date(NOW.getTime() + 2 * HOUR) }), /is not valid before/],
    ['a server certificate (extended key usage serverAuth only)', gatewayCertificate({ usage: 'serverAuth' }), /^Unauthorized: the client certificate \(CN=edge-a\) is not for client authentication \(extended key usage clientAuth is missing\)$/],
    ['a certificate listing no extended key usage', gatewayCertificate({ usage: 'none' }), /is not for client authentication/],
    ['a certificate without a SPIFFE ID (the CN is not read)', presented(testClientCertificate(agentCa, 'edge-a')), /names no agent: it needs a URI SAN spiffe:\/\/<trust domain>\/ns\/<namespace>\/gateway\/<name>/],
    ['a SPIFFE ID hidden in a DNS name', presented(testClientCertificate(agentCa, 'edge-a', { dnsNames: [`x, URI:${GATEWAY_A}`] })), /names no agent/],
    ['two SPIFFE IDs', gatewayCertificate({ uris: [GATEWAY_A, 'spiffe://portolan/ns/default/gateway/edge-b'] }), /carries 2 SPIFFE IDs .*; an agent's carries exactly one/],
    ['a SPIFFE ID of a workload that is no agent', gatewayCertificate({ uris: ['spiffe://portolan/ns/default/sa/edge-a'] }), /SPIFFE ID spiffe:\/\/portolan\/ns\/default\/sa\/edge-a names no agent/],
    ['a SPIFFE ID whose name is not an object name', gatewayCertificate({ uris: ['spiffe://portolan/ns/default/gateway/Edge_A'] }), /names no agent: it must be/],
  ])('refuses %s with 401 saying what is wrong', (_case, certificate, message) => {
    const verdict = verifyAgentCertificate(certificate, cas, NOW);
    expect(verdict).toMatchObject({ trusted: false, status: { kind: 'Status', status: 'Failure', code: 401, reason: 'Unauthorized', message: expect.stringMatching(message) } });
  });

  it.each<[string, PresentedCertificate, Partial<AgentIdentity>]>([
    ['a gateway certificate signed by the agent CA', gatewayCertificate(), { role: 'gateway', namespace: 'default', name: 'edge-a', trustDomain: 'portolan' }],
    ['one signed through an intermediate the client sent', presented(testClientCertificate(intermediate, 'edge-a', { uris: [GATEWAY_A] }), intermediate), { name: 'edge-a' }],
    ['a service instance in another trust domain', gatewayCertificate({ uris: ['spiffe://example.org/ns/shop/instance/orders-1'] }), { role: 'instance', namespace: 'shop', name: 'orders-1', trustDomain: 'example.org' }],
    ['a certificate with other SANs besides its SPIFFE ID', gatewayCertificate({ dnsNames: ['edge-a.example.com'] }), { spiffeId: GATEWAY_A }],
  ])('accepts %s', (_case, certificate, identity) => {
    expect(verifyAgentCertificate(certificate, cas, NOW)).toEqual({ trusted: true, identity: expect.objectContaining(identity) });
  });

  it('believes any CA of the bundle (a rotation in progress)', () => {
    const next = testCertificateAuthority('portolan agent CA 2');
    const bundle = [agentCa, next].map((ca) => new X509Certificate(ca.certPem));
    expect(verifyAgentCertificate(gatewayCertificate({}, next), bundle, NOW)).toMatchObject({ trusted: true });
  });

  it('judges validity at the time it is given', () => {
    const certificate = gatewayCertificate();
    expect(verifyAgentCertificate(certificate, cas, new Date(NOW.getTime() + 48 * HOUR))).toMatchObject({ trusted: false, status: { code: 401, message: expect.stringMatching(/expired on/) } });
  });
});

describe('registrationMismatch and nodeMismatch', () => {
  const identity: AgentIdentity = { spiffeId: GATEWAY_A, trustDomain: 'portolan', namespace: 'default', role: 'gateway', name: 'edge-a' };

  it.each<[string, { role: 'gateway' | 'instance'; namespace: string; name: string }, string | undefined]>([
    ['the same gateway', { role: 'gateway', namespace: 'default', name: 'edge-a' }, undefined],
    ['another gateway', { role: 'gateway', namespace: 'default', name: 'edge-b' }, 'name'],
    ['a service instance of the same name', { role: 'instance', namespace: 'default', name: 'edge-a' }, 'role'],
    ['a gateway of the same name in another namespace', { role: 'gateway', namespace: 'edge', name: 'edge-a' }, 'namespace'],
  ])('registering %s: %s', (_case, claimed, field) => {
    const status = registrationMismatch(identity, claimed);
    if (field === undefined) return expect(status).toBeUndefined();
    expect(status).toMatchObject({
      code: 403,
      reason: 'Forbidden',
      message: `Forbidden: the client certificate is for gateway default/edge-a (${GATEWAY_A}); it may not register ${claimed.role} ${claimed.namespace}/${claimed.name}`,
      details: { name: claimed.name, causes: [{ field, reason: 'FieldValueForbidden' }] },
    });
  });

  it('names the instance\'s service.namespace when an instance registers in another namespace', () => {
    const instance: AgentIdentity = { spiffeId: 'spiffe://portolan/ns/shop/instance/orders-1', trustDomain: 'portolan', namespace: 'shop', role: 'instance', name: 'orders-1' };
    expect(registrationMismatch(instance, { role: 'instance', namespace: 'default', name: 'orders-1' })?.details?.causes).toEqual([
      { field: 'service.namespace', reason: 'FieldValueForbidden', message: 'must be "shop", as the client certificate says' },
    ]);
  });

  it('refuses the node routes of another node, naming both', () => {
    expect(nodeMismatch(identity, 'id-a', { role: 'gateway', namespace: 'default', name: 'edge-a' })).toBeUndefined();
    expect(nodeMismatch(identity, 'id-b', { role: 'gateway', namespace: 'default', name: 'edge-b' })).toMatchObject({
      code: 403,
      reason: 'Forbidden',
      message: `Forbidden: the client certificate is for gateway default/edge-a (${GATEWAY_A}); node id-b is gateway default/edge-b`,
      details: { kind: 'GatewayNode', name: 'edge-b' },
    });
  });
});
