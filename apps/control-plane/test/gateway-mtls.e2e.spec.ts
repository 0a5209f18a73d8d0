/**
 * Mutual TLS between gateways and the control plane (PORTOLAN_TLS_AGENT_CLIENT_CA_FILE), with
 * certificates made here: the built gateway with its certificate registers, gets the policy over
 * the stream and ACKs it; gateways without one, with one from another CA or with another gateway's
 * are refused with a Status saying why; a node credential is useless without the node's
 * certificate, on HTTP and on the stream; kubectl-style clients without certificates are unaffected.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testCertificateAuthority, testClientCertificate, type TestCertificate } from '../src/auth/delegated/testing/test-certificates';
import { readBootConfig } from '../src/config/boot-config';
import { startControlPlane } from '../src/control-plane';
import { nsPath } from './support/api-client';
import { makeDataDir, REPO_ROOT, removeDataDir } from './support/control-plane-process';
import { startInProcess, type InProcessControlPlane } from './support/in-process';
import { eventually } from './support/eventually';

const GATEWAY_MAIN = join(REPO_ROOT, 'apps/gateway/dist/main.js');
const BOOTSTRAP = 'bootstrap-token-for-mtls-tests';
const spiffe = (name: string) => `spiffe://portolan/ns/default/gateway/${name}`;

const agentCa = testCertificateAuthority('portolan agent CA');
const otherCa = testCertificateAuthority('portolan agent CA');
const certificates = {
  edgeA: testClientCertificate(agentCa, 'edge-a', { uris: [spiffe('edge-a')] }),
  edgeB: testClientCertificate(agentCa, 'edge-b', { uris: [spiffe('edge-b')] }),
  edgeAFromOtherCa: testClientCertificate(otherCa, 'edge-a', { uris: [spiffe('edge-a')] }),
};

const files = makeDataDir('portolan-gateway-mtls-');
const file = (name: string, content: string) => {
  const path = join(files, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
};
const agentCaFile = file('agent-ca.crt', agentCa.certPem);
const certificateFiles = (name: keyof typeof certificates) => ['--client-cert', file(`${name}.crt`, certificates[name].certPem), '--client-key', file(`${name}.key`, certificates[name].keyPem)];

const service = { apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'Service', metadata: { name: 'orders' }, spec: { ports: [{ port: 8080 }], endpoints: [{ address: '127.0.0.1', port: 9001, zone: 'zone-a' }] } };
const route = { apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'Route', metadata: { name: 'orders' }, spec: { match: { pathPrefix: '/orders' }, backendRef: { name: 'orders' } } };
const rateLimit = (requests: number) => ({
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'RateLimitPolicy',
  metadata: { name: 'orders-limit' },
  spec: { targetRef: { kind: 'Service', name: 'orders' }, limits: [{ name: 'per-minute', requests, interval: '60s' }] },
});

interface GatewayProcess {
  child: ChildProcess;
  output: () => string;
}

const gateways: GatewayProcess[] = [];
let cp: InProcessControlPlane;

function startGateway(name: string, args: string[]): GatewayProcess {
  if (!existsSync(GATEWAY_MAIN)) throw new Error(`${GATEWAY_MAIN} is missing: build the gateway first`);
  const stateDir = join(files, 'state', name);
  mkdirSync(stateDir, { recursive: true });
  let log = '';
  const child = spawn(
    process.execPath,
    [GATEWAY_MAIN, '--control-plane', cp.running.apiUrl, '--ca-file', cp.running.caFile, '--bootstrap-token', BOOTSTRAP, '--zone', 'zone-a', '--pool', 'edge',
      '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--state-dir', stateDir, '--transport', 'websocket', ...args],
    { env: { ...process.env, PORTOLAN_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (chunk) => (log += chunk));
  child.stderr!.on('data', (chunk) => (log += chunk));
  const gateway = { child, output: () => log };
  gateways.push(gateway);
  return gateway;
}


/** The error the gateway logged when the control plane refused its registration. */
async function refusalOf(gateway: GatewayProcess): Promise<string> {
  const line = await eventually(
    () => gateway.output().split('\n').find((text) => text.includes('the control plane refused the registration')),
    (found) => found !== undefined,
    'the gateway to log the refusal',
  );
  return (JSON.parse(line!) as { error: string }).error;
}

/** One agent-protocol call on a connection of its own, presenting `certificate` when given. */
async function agentCall(method: 'GET' | 'POST', path: string, options: { certificate?: TestCertificate; token: string; body?: unknown }) {
  const dispatcher = new Agent({ connect: { ca: cp.running.caPem, ...(options.certificate ? { cert: options.certificate.certPem, key: options.certificate.keyPem } : {}) } });
  try {
    const response = await request(new URL(path, cp.running.apiUrl), {
      dispatcher,
      method,
      headers: { authorization: `Bearer ${options.token}`, ...(options.body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.body.text();
    return { status: response.statusCode, body: text ? JSON.parse(text) : undefined };
  } finally {
    await dispatcher.close();
  }
}

/** Opens node `id`'s config stream: the first snapshot when the upgrade is accepted, the refusal's Status otherwise. */
function openStream(id: string, credential: string, certificate?: TestCertificate): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${cp.running.apiUrl.replace('https', 'wss')}/agent/v1/nodes/${id}/stream`, {
      ca: cp.running.caPem,
      ...(certificate ? { cert: certificate.certPem, key: certificate.keyPem } : {}),
      headers: { authorization: `Bearer ${credential}` },
    });
    socket.on('message', (data) => {
      resolve({ status: 101, body: JSON.parse(String(data)) });
      socket.terminate();
    });
    socket.on('unexpected-response', (_request, response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) }));
    });
    socket.on('error', reject);
  });
}

const registration = (name: string) => ({ role: 'gateway', name, zone: 'zone-a', pool: 'edge', address: '127.0.0.1:1', version: 'test' });

beforeAll(async () => {
  cp = await startInProcess({ PORTOLAN_TLS_AGENT_CLIENT_CA_FILE: agentCaFile, PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP, PORTOLAN_HEARTBEAT_INTERVAL: '300ms' });
  // An admin without any client certificate: the rest of the API does not ask for one.
  for (const [plural, object] of [['services', service], ['routes', route], ['ratelimitpolicies', rateLimit(100)]] as const) expect((await cp.client.call('POST', nsPath(plural), object)).status).toBe(201);
});
afterAll(async () => {
  for (const gateway of gateways) gateway.child.kill('SIGKILL');
  await cp?.stop();
  removeDataDir(files);
});

describe('gateways with client certificates', () => {
  it('stops the start when the agent CA file holds no CA, naming the setting', async () => {
    const dataDir = makeDataDir();
    const keyInstead = file('agent-ca-key-only.pem', agentCa.keyPem);
    try {
      const config = readBootConfig({ PORTOLAN_DATA_DIR: dataDir, PORTOLAN_API_PORT: '0', PORTOLAN_OPS_PORT: '-1', PORTOLAN_TLS_AGENT_CLIENT_CA_FILE: keyInstead });
      await expect(startControlPlane(config)).rejects.toThrow(`PORTOLAN_TLS_AGENT_CLIENT_CA_FILE=${keyInstead} holds no PEM certificate`);
    } finally {
      removeDataDir(dataDir);
    }
  });

  it('a gateway with its certificate registers under the certificate\'s name, gets the policy over the stream and ACKs it', async () => {
    const gateway = startGateway('edge-a', certificateFiles('edgeA'));
    const rollout = await eventually(
      async () => (await cp.client.call('GET', `${nsPath('ratelimitpolicies', 'orders-limit')}/rollout`)).body,
      (body) => body.gateways?.some((entry: { gateway: string; outcome: string }) => entry.gateway === 'edge-a' && entry.outcome === 'acked'),
      `edge-a to ACK the policy (gateway output:\n${gateway.output()})`,
    );
    expect(rollout.summary).toMatchObject({ gateways: 1, acked: 1, nacked: 0 });
    const node = (await cp.client.call('GET', nsPath('gatewaynodes', 'edge-a'))).body;
    expect(node.spec).toMatchObject({ zone: 'zone-a', pool: 'edge' });
  });

  it('refuses gateways without a certificate, with one from another CA, or with another gateway\'s, saying why', async () => {
    const [none, otherCaSigned, otherGateways] = [
      startGateway('edge-c', ['--name', 'edge-c']),
      startGateway('edge-a-forged', certificateFiles('edgeAFromOtherCa')),
      startGateway('edge-a-as-b', ['--name', 'edge-a', ...certificateFiles('edgeB')]),
    ];
    expect(await refusalOf(none)).toBe(
      'POST /agent/v1/register answered 401: Unauthorized: the request came without a TLS client certificate; the agent protocol needs one signed by the agent CA (PORTOLAN_TLS_AGENT_CLIENT_CA_FILE): start the gateway with --client-cert and --client-key',
    );
    expect(await refusalOf(otherCaSigned)).toBe('POST /agent/v1/register answered 401: Unauthorized: the client certificate (CN=edge-a) is not signed by the agent CA (PORTOLAN_TLS_AGENT_CLIENT_CA_FILE)');
    expect(await refusalOf(otherGateways)).toBe(
      `POST /agent/v1/register answered 403: Forbidden: the client certificate is for gateway default/edge-b (${spiffe('edge-b')}); it may not register gateway default/edge-a`,
    );
    // None of them registered, and the real edge-a is still the only gateway.
    const names = (await cp.client.call('GET', nsPath('gatewaynodes'))).body.items.map((item: { metadata: { name: string } }) => item.metadata.name);
    expect(names).toEqual(['edge-a']);
  });

  it('makes a node credential useless without the node\'s certificate, on HTTP and on the stream', async () => {
    const registered = await agentCall('POST', '/agent/v1/register', { certificate: certificates.edgeB, token: BOOTSTRAP, body: registration('edge-b') });
    expect(registered.status).toBe(201);
    const { id, credential } = registered.body as { id: string; credential: string };
    const heartbeat = `/agent/v1/nodes/${id}/heartbeat`;

    const withoutCertificate = await agentCall('POST', heartbeat, { token: credential, body: {} });
    expect(withoutCertificate).toMatchObject({ status: 401, body: { kind: 'Status', reason: 'Unauthorized', message: expect.stringContaining('without a TLS client certificate') } });
    const withEdgeA = await agentCall('POST', heartbeat, { certificate: certificates.edgeA, token: credential, body: {} });
    expect(withEdgeA).toMatchObject({
      status: 403,
      body: { kind: 'Status', reason: 'Forbidden', message: `Forbidden: the client certificate is for gateway default/edge-a (${spiffe('edge-a')}); node ${id} is gateway default/edge-b` },
    });
    // Express routes paths case-insensitively; so is the prefix checked.
    expect(await agentCall('POST', `/AGENT/V1/NODES/${id}/heartbeat`, { token: credential, body: {} })).toMatchObject({ status: 401 });
    expect((await openStream(id, credential)).status).toBe(401);
    expect(await openStream(id, credential, certificates.edgeA)).toMatchObject({ status: 403, body: { kind: 'Status', reason: 'Forbidden' } });

    // With its own certificate the same credential works: heartbeat, stream, long-poll and ACK.
    expect((await agentCall('POST', heartbeat, { certificate: certificates.edgeB, token: credential, body: {} })).status).toBe(200);
    const pushed = await openStream(id, credential, certificates.edgeB);
    expect(pushed).toMatchObject({ status: 101, body: { type: 'snapshot', snapshot: { gateway: { name: 'edge-b' } } } });
    const polled = await agentCall('GET', `/agent/v1/nodes/${id}/snapshot`, { certificate: certificates.edgeB, token: credential });
    expect(polled.status).toBe(200);
    const acked = await agentCall('POST', `/agent/v1/nodes/${id}/acks`, { certificate: certificates.edgeB, token: credential, body: { version: polled.body.version, revision: polled.body.revision, status: 'ACK' } });
    expect(acked.status).toBe(204);
  });

  it('keeps serving the gateway that belongs: a changed policy still reaches edge-a and is ACKed', async () => {
    const changed = await cp.client.call('PUT', nsPath('ratelimitpolicies', 'orders-limit'), {
      ...rateLimit(50),
      metadata: { ...rateLimit(50).metadata, resourceVersion: (await cp.client.call('GET', nsPath('ratelimitpolicies', 'orders-limit'))).body.metadata.resourceVersion },
    });
    expect(changed.status).toBe(200);
    const revision = Number(changed.body.metadata.resourceVersion);
    await eventually(
      async () => (await cp.client.call('GET', `${nsPath('ratelimitpolicies', 'orders-limit')}/rollout`)).body,
      (body) => body.gateways?.some((entry: { gateway: string; outcome: string; appliedRevision: number }) => entry.gateway === 'edge-a' && entry.outcome === 'acked' && entry.appliedRevision >= revision),
      'edge-a to ACK the changed policy',
    );
  });
});
