/**
 * The role matrix for WebSockets, the companion of role-matrix.e2e.spec.ts (routes): who may open
 * each WebSocket, and what each message a client may send does for whom.
 *   - The live feed (/v1/live) is the dashboard's: any user token (viewer and up) opens it; node
 *     credentials and the bootstrap token do not. Its messages, `tap` and `untap`, are a viewer's:
 *     watching a gateway's requests changes nothing in the mesh.
 *   - The agent stream (/agent/v1/nodes/{id}/stream) is one node's: only that node's credential
 *     opens it. Its one message, `ack` (ACK or NACK), counts for the stream's own node whatever the
 *     message says, so a gateway cannot answer for another.
 * Unknown messages are ignored and the connection stays up (a newer client may send more). The
 * message types are checked against the protocol's types at compile time, so a new one cannot be
 * added without a row here.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIVE_CLOSE_UNAUTHORIZED, LIVE_PATH, LIVE_PROTOCOL, LIVE_TOKEN_PROTOCOL_PREFIX, type LiveClientMessage } from '@portolan/api';
import type { ClientMessage } from '@portolan/agent-client';
import { nsPath } from './support/api-client';
import { eventually } from './support/eventually';
import { startInProcess, type InProcessControlPlane } from './support/in-process';

const TOKENS = { viewer: 'viewer-token-0123456789', editor: 'editor-token-0123456789', admin: 'admin-token-01234567890' };
const BOOTSTRAP = 'bootstrap-token-0123456789';

/** Every message a dashboard may send on the live feed, and the least role it needs. */
const LIVE_MESSAGES = { tap: 'viewer', untap: 'viewer' } as const satisfies Record<LiveClientMessage['type'], 'viewer' | 'editor' | 'admin'>;
/** Every message an agent may send on its stream; each counts for the stream's own node only. */
const STREAM_MESSAGES = { ack: 'own node' } as const satisfies Record<ClientMessage['type'], 'own node'>;

const gatewayRegistration = (name: string) => ({ role: 'gateway', name, zone: 'zone-a', pool: 'edge', address: '127.0.0.1:1', version: 'test' });
const tokenProtocol = (token: string) => `${LIVE_TOKEN_PROTOCOL_PREFIX}${Buffer.from(token).toString('base64url')}`;

let cp: InProcessControlPlane;
let gateway: { id: string; credential: string };
let other: { id: string; credential: string };

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portolan-tokens-'));
  const file = join(dir, 'tokens.yaml');
  writeFileSync(file, `tokens:\n${Object.entries(TOKENS).map(([role, token]) => `  - {name: ${role}-user, role: ${role}, token: ${token}}`).join('\n')}\n`);
  // Refused identities are failed authentications from 127.0.0.1: far past the lockout's default.
  cp = await startInProcess({ PORTOLAN_TOKENS_FILE: file, PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP, PORTOLAN_AUTH_FAILURE_LIMIT: '100000' }, TOKENS.admin);
  const bootstrap = cp.client.withToken(BOOTSTRAP);
  gateway = (await bootstrap.call('POST', '/agent/v1/register', gatewayRegistration('ws-matrix-gateway'))).body;
  other = (await bootstrap.call('POST', '/agent/v1/register', gatewayRegistration('ws-matrix-other'))).body;
});
afterAll(async () => {
  await cp?.stop();
});

type Opened = { opened: true; ws: WebSocket; first: Promise<Record<string, unknown>> } | { opened: false; code: number };

/** Opens a WebSocket; resolves with its first message's promise once open, or how it was refused (HTTP status or close code). */
function open(path: string, options: { protocols?: string[]; bearer?: string }): Promise<Opened> {
  const ws = new WebSocket(`${cp.running.apiUrl.replace('https', 'wss')}${path}`, options.protocols ?? [], {
    ca: cp.running.caPem,
    headers: options.bearer ? { authorization: `Bearer ${options.bearer}` } : {},
  });
  ws.on('error', () => undefined);
  const first = new Promise<Record<string, unknown>>((resolve) => ws.once('message', (data) => resolve(JSON.parse(String(data)))));
  return new Promise((resolve) => {
    ws.once('unexpected-response', (_request, response) => {
      response.resume();
      resolve({ opened: false, code: response.statusCode ?? 0 });
    });
    ws.once('close', (code) => resolve({ opened: false, code }));
    // The live feed refuses a token after the handshake, with a close code: wait for the first message.
    ws.once('open', () => void first.then(() => resolve({ opened: true, ws, first })));
  });
}

const openLive = (token: string | undefined) => open(LIVE_PATH, { protocols: [LIVE_PROTOCOL, ...(token ? [tokenProtocol(token)] : [])] });
const openStream = (id: string, bearer: string | undefined) => open(`/agent/v1/nodes/${id}/stream`, { bearer });

/** What the gateway's next heartbeat answer asks of it: a tap while someone watches it. */
async function tapWanted(node: { id: string; credential: string }): Promise<boolean> {
  const answer = await cp.client.withToken(node.credential).call('POST', `/agent/v1/nodes/${node.id}/heartbeat`, {});
  expect(answer.status).toBe(200);
  return answer.body.tap !== undefined;
}

async function closeQuietly(opened: Opened): Promise<void> {
  if (!opened.opened) return;
  await new Promise((closed) => {
    opened.ws.once('close', closed);
    opened.ws.close();
  });
}

describe('the live feed', () => {
  it.each([
    ['no token', undefined, false],
    ['a wrong token', 'not-a-real-token-at-all', false],
    ['the bootstrap token', BOOTSTRAP, false],
    ["a gateway's node credential", 'node-credential', false],
    ['viewer', TOKENS.viewer, true],
    ['editor', TOKENS.editor, true],
    ['admin', TOKENS.admin, true],
  ])('with %s: opened only for a user token', async (_identity, token, opens) => {
    const opened = await openLive(token === 'node-credential' ? gateway.credential : token);
    if (opens) {
      expect(opened.opened).toBe(true);
      if (opened.opened) expect(await opened.first).toMatchObject({ type: 'hello' });
    } else {
      expect(opened).toEqual({ opened: false, code: LIVE_CLOSE_UNAUTHORIZED });
    }
    await closeQuietly(opened);
  });

  it.each(Object.entries(LIVE_MESSAGES))('lets every role from %s (%s) up tap and untap a gateway', async (_message, least) => {
    expect(least).toBe('viewer');
    for (const token of [TOKENS.viewer, TOKENS.editor, TOKENS.admin]) {
      const opened = await openLive(token);
      if (!opened.opened) throw new Error('the live feed did not open');
      expect(await tapWanted(gateway)).toBe(false);
      opened.ws.send(JSON.stringify({ type: 'tap', gateway: gateway.id } satisfies LiveClientMessage));
      await eventually(() => tapWanted(gateway), Boolean, "a tap asked of the gateway in its heartbeat answer");
      // Another gateway is not tapped by it.
      expect(await tapWanted(other)).toBe(false);
      opened.ws.send(JSON.stringify({ type: 'untap', gateway: gateway.id } satisfies LiveClientMessage));
      await eventually(() => tapWanted(gateway), (wanted) => !wanted, 'no tap asked of the gateway any more');
      await closeQuietly(opened);
    }
  });

  it('ignores messages it does not know, and stays open', async () => {
    const opened = await openLive(TOKENS.viewer);
    if (!opened.opened) throw new Error('the live feed did not open');
    for (const message of ['{"type":"drain","zone":"zone-a"}', '{"type":"tap"}', 'not json', '{"type":"tap","gateway":5}']) opened.ws.send(message);
    opened.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    opened.ws.send(JSON.stringify({ type: 'tap', gateway: gateway.id }));
    await eventually(() => tapWanted(gateway), Boolean, 'a tap asked of the gateway after the unknown messages');
    expect(opened.ws.readyState).toBe(WebSocket.OPEN);
    await closeQuietly(opened);
  });
});

describe('the agent stream', () => {
  it.each([
    ['no credential', undefined],
    ['a wrong credential', 'not-a-real-credential'],
    ['the bootstrap token', BOOTSTRAP],
    ['a viewer token', TOKENS.viewer],
    ['an editor token', TOKENS.editor],
    ['an admin token', TOKENS.admin],
    ["another node's credential", 'other'],
  ])('with %s: refused 401', async (_identity, bearer) => {
    const opened = await openStream(gateway.id, bearer === 'other' ? other.credential : bearer);
    expect(opened).toEqual({ opened: false, code: 401 });
  });

  it.each(Object.keys(STREAM_MESSAGES))('counts an %s for the stream\'s own node, whatever node the message names', async () => {
    const opened = await openStream(gateway.id, gateway.credential);
    if (!opened.opened) throw new Error('the agent stream did not open');
    const { snapshot } = (await opened.first) as { snapshot: { version: string; revision: number } };
    const phase = async (name: string) => (await cp.client.call('GET', nsPath('gatewaynodes', name))).body.status.phase;
    expect(await phase('ws-matrix-other')).toBe('Healthy');
    // A NACK that names the other gateway every way a message could: the stream's node rejected it.
    opened.ws.send(JSON.stringify({ type: 'ack', gateway: other.id, id: other.id, node: other.id, ack: { version: snapshot.version, revision: snapshot.revision, status: 'NACK', errors: [{ resource: 'Route/x', message: 'matrix' }], gateway: other.id } }));
    await eventually(() => phase('ws-matrix-gateway'), (current) => current === 'Degraded', 'the stream\'s gateway Degraded by its NACK');
    expect(await phase('ws-matrix-other')).toBe('Healthy');
    opened.ws.send(JSON.stringify({ type: 'ack', ack: { version: snapshot.version, revision: snapshot.revision, status: 'ACK' } } satisfies ClientMessage));
    await eventually(() => phase('ws-matrix-gateway'), (current) => current === 'Healthy', 'the stream\'s gateway Healthy again after its ACK');
    await closeQuietly(opened);
  });

  it('ignores messages it does not know, and stays open', async () => {
    const opened = await openStream(gateway.id, gateway.credential);
    if (!opened.opened) throw new Error('the agent stream did not open');
    await opened.first;
    for (const message of ['{"type":"register","name":"x"}', '{"type":"ack"}', 'not json', '{"type":"heartbeat"}']) opened.ws.send(message);
    opened.ws.send(JSON.stringify({ type: 'ack', ack: { version: 'x', revision: 0, status: 'ACK' } }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(opened.ws.readyState).toBe(WebSocket.OPEN);
    expect((await cp.client.call('GET', nsPath('gatewaynodes', 'ws-matrix-gateway'))).body.status.phase).toBe('Healthy');
    await closeQuietly(opened);
  });
});
