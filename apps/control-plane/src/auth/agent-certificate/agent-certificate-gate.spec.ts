import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { Status } from '@portolan/api';
import { testCertificateAuthority, testClientCertificate, type TestCertificate } from '../delegated/testing/test-certificates';
import type { RegisteredNode } from '../../registry/node-registry';
import { AgentCertificateGate, readAgentClientCa } from './agent-certificate-gate';

const agentCa = testCertificateAuthority('portolan agent CA');
const edgeA = testClientCertificate(agentCa, 'edge-a', { uris: ['spiffe://portolan/ns/default/gateway/edge-a'] });

/** A TLS socket as Node shows the client's certificate: the leaf, its issuer chain, the subject's fields. */
function socketPresenting(certificate?: TestCertificate): Socket {
  const peer = certificate && { raw: new X509Certificate(certificate.certPem).raw, fingerprint256: new X509Certificate(certificate.certPem).fingerprint256, subject: { CN: 'edge-a' } };
  return { remoteAddress: '127.0.0.1', getPeerCertificate: () => peer ?? {} } as unknown as Socket;
}

const nodes: Record<string, Pick<RegisteredNode, 'role' | 'namespace' | 'name'>> = {
  'id-a': { role: 'gateway', namespace: 'default', name: 'edge-a' },
  'id-b': { role: 'gateway', namespace: 'default', name: 'edge-b' },
};
const registry = { get: (id: string) => nodes[id] as RegisteredNode | undefined };
const logged: string[] = [];
const record = (_fields: object, message?: string) => void logged.push(message ?? '');
const logger = { debug: record, warn: record } as unknown as Pick<Logger, 'debug' | 'warn'>;
const gate = new AgentCertificateGate({ pem: agentCa.certPem, cas: [new X509Certificate(agentCa.certPem)] }, registry, logger);

/** Runs both middlewares as control-plane.ts mounts them; the answer's code, or 'next' when the request goes on. */
function pass(path: string, body: unknown, certificate: TestCertificate | undefined): { outcome: number | 'next'; status?: Status } {
  const request = { path, body, socket: socketPresenting(certificate) } as unknown as Request;
  let answered: { outcome: number; status: Status } | undefined;
  const response = {
    status(code: number) {
      return { json: (status: Status) => (answered = { outcome: code, status }) };
    },
  } as unknown as Response;
  let passed = 0;
  gate.authenticate(request, response, () => passed++);
  if (answered) return answered;
  gate.authorize(request, response, () => passed++);
  return answered ?? { outcome: passed === 2 ? 'next' : -1 };
}

const registration = (name?: string) => ({ role: 'gateway', ...(name === undefined ? {} : { name }), zone: 'zone-a', pool: 'edge', address: '127.0.0.1:8080', version: 't' });

describe('AgentCertificateGate', () => {
  it.each<[string, string, unknown, TestCertificate | undefined, number | 'next']>([
    ['a registration under the certificate\'s name', '/register', registration('edge-a'), edgeA, 'next'],
    ['a registration whose name becomes the certificate\'s object name', '/register', registration('Edge_A'), edgeA, 'next'],
    ['a registration under another name', '/register', registration('edge-b'), edgeA, 403],
    ['a registration under another name, the path in other case (Express routes it the same)', '/REGISTER/', registration('edge-b'), edgeA, 403],
    ['a registration naming no gateway (it would get a generated name)', '/register', registration(), edgeA, 403],
    ['a registration the registry refuses anyway (its 422 says why)', '/register', { role: 'pilot' }, edgeA, 'next'],
    ['a registration without a certificate', '/register', registration('edge-a'), undefined, 401],
    ['the node\'s own heartbeat', '/nodes/id-a/heartbeat', {}, edgeA, 'next'],
    ['another node\'s heartbeat', '/nodes/id-b/heartbeat', {}, edgeA, 403],
    ['another node\'s deregistration, percent-encoded and in other case', '/NODES/id%2Db', undefined, edgeA, 403],
    ['a node that is not registered (the route answers 404)', '/nodes/id-gone/acks', {}, edgeA, 'next'],
    ['the node\'s own route without a certificate', '/nodes/id-a/snapshot', undefined, undefined, 401],
    ['a path under the prefix that is no route, without a certificate', '/anything', undefined, undefined, 401],
  ])('%s: %s', (_case, path, body, certificate, outcome) => {
    expect(pass(path, body, certificate).outcome).toBe(outcome);
  });

  it('answers a Status naming the certificate\'s gateway and the one asked for', () => {
    expect(pass('/register', registration('edge-b'), edgeA).status).toMatchObject({
      kind: 'Status',
      code: 403,
      message: 'Forbidden: the client certificate is for gateway default/edge-a (spiffe://portolan/ns/default/gateway/edge-a); it may not register gateway default/edge-b',
      details: { causes: [{ field: 'name', reason: 'FieldValueForbidden' }] },
    });
  });

  it('refuses another node\'s stream and no certificate on a stream, before any credential is looked at', () => {
    expect(gate.streamRefusal(socketPresenting(edgeA), 'id-a')).toBeUndefined();
    expect(gate.streamRefusal(socketPresenting(edgeA), 'id-b')).toMatchObject({ code: 403, reason: 'Forbidden' });
    expect(gate.streamRefusal(socketPresenting(undefined), 'id-a')).toMatchObject({ code: 401, reason: 'Unauthorized' });
    expect(logged).toContain('agent refused: its client certificate names another node');
  });
});

describe('readAgentClientCa', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-ca-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  it('reads a bundle of CAs', () => {
    const next = testCertificateAuthority('portolan agent CA 2');
    expect(readAgentClientCa(file('bundle.pem', `${agentCa.certPem}${next.certPem}`)).cas.map((ca) => ca.subject)).toEqual(['CN=portolan agent CA', 'CN=portolan agent CA 2']);
  });

  it.each<[string, () => string, RegExp]>([
    ['a missing file', () => join(dir, 'missing.pem'), /^PORTOLAN_TLS_AGENT_CLIENT_CA_FILE=.*missing\.pem: cannot read the file \(ENOENT\)$/],
    ['a file without a certificate', () => file('key.pem', agentCa.keyPem), /^PORTOLAN_TLS_AGENT_CLIENT_CA_FILE=.*key\.pem holds no PEM certificate$/],
    ['a gateway\'s certificate instead of the CA', () => file('leaf.pem', edgeA.certPem), /certificate 1 \(CN=edge-a\) is not a CA certificate/],
  ])('refuses %s, naming the setting and the file', (_case, path, message) => {
    expect(() => readAgentClientCa(path())).toThrow(message);
  });
});
