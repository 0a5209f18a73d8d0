/**
 * The live feed over a real WebSocket on loopback: first over sources the spec drives (a store
 * whose watch it commits to and expires, a registry it changes), then inside a started control
 * plane, where writes, registrations, heartbeats and drains go through the API.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { formatTime, LIVE_CLOSE_UNAUTHORIZED, LIVE_PATH, LIVE_PROTOCOL, LIVE_TOKEN_PROTOCOL_PREFIX, type LiveMessage, type MeshEvent, type ServiceTrafficPoint, type TappedRequest, type TrafficPoint } from '@portolan/api';
import { nsPath } from '../../test/support/api-client';
import { startInProcess, type InProcessControlPlane } from '../../test/support/in-process';
import { heartbeatStats, latencyHistogram } from '../autoscaling/testing/heartbeat-stats';
import type { RegisteredNode } from '../registry/node-registry';
import { StoreRevisionCompactedError, type Change, type ChangeType, type ObjectKey } from '../store/resource-store';
import { gatewayNode } from '../zones/testing/mesh-objects';
import { TapService } from '../tap/tap.service';
import { AuthLockout } from '../auth/auth-lockout';
import { MetricsRegistry } from '../telemetry/metrics';
import { attachLiveFeed, type LiveFeedOptions } from './live-feed';

type Message<T extends LiveMessage['type']> = Extract<LiveMessage, { type: T }>;

const tokenProtocol = (token: string) => `${LIVE_TOKEN_PROTOCOL_PREFIX}${Buffer.from(token).toString('base64url')}`;

/** A feed client that keeps every message, and waits for one that matches. */
function openFeed(url: string, protocols: string[], options: WebSocket.ClientOptions = {}) {
  const ws = new WebSocket(url, protocols, options);
  const messages: LiveMessage[] = [];
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    messages.push(JSON.parse(String(data)) as LiveMessage);
    for (const wake of [...waiters]) wake();
  });
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  const refused = new Promise<{ status: number; body: string; headers: IncomingHttpHeaders }>((resolve) =>
    ws.on('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body, headers: response.headers }));
    }),
  );
  const waitFor = <T extends LiveMessage['type']>(type: T, matches: (message: Message<T>) => boolean = () => true, timeoutMs = 10_000): Promise<Message<T>> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = messages.find((message): message is Message<T> => message.type === type && matches(message as Message<T>));
        if (!found) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no matching ${type} message within ${timeoutMs} ms; got ${JSON.stringify(messages).slice(0, 2_000)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  const count = (type: LiveMessage['type']) => messages.filter((message) => message.type === type).length;
  return { ws, messages, closed, refused, waitFor, count };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** A store whose watch the spec drives: commits go to every watch, and `expire` ends them as a compaction would. */
class ScriptedStore {
  current = 7;
  readonly watches: Array<{ from: number; listener: (change: Change) => void; onExpired?: (error: StoreRevisionCompactedError) => void }> = [];

  async revision(): Promise<number> {
    return this.current;
  }

  async watch(from: number, listener: (change: Change) => void, onExpired?: (error: StoreRevisionCompactedError) => void): Promise<() => void> {
    const watch = { from, listener, onExpired };
    this.watches.push(watch);
    return () => this.watches.splice(this.watches.indexOf(watch), 1);
  }

  commit(type: ChangeType, key: ObjectKey): void {
    this.current++;
    const change: Change = { revision: this.current, type, key, actor: 'spec', time: new Date().toISOString(), before: null, after: null };
    for (const watch of [...this.watches]) watch.listener(change);
  }

  expire(): void {
    for (const watch of this.watches.splice(0)) watch.onExpired?.(new StoreRevisionCompactedError(this.current - 1, this.current));
  }
}

const policy = (name: string): ObjectKey => ({ kind: 'RateLimitPolicy', namespace: 'default', name });

describe('the live feed', () => {
  let server: Server;
  let url: string;
  let store: ScriptedStore;
  let nodes: RegisteredNode[];
  let epoch: number;
  let statusListeners: Set<(keys: ObjectKey[]) => void>;
  let rolloutListeners: Set<() => void>;
  let eventListeners: Set<(event: MeshEvent) => void>;
  let trafficAsked: Array<[number, number]>;
  /** Whether the pools had traffic in a slot (the services always have). */
  let poolTraffic: boolean;
  /** Each valid token with when it expires (ms since the epoch; undefined: never). */
  let validTokens: Map<string, number | undefined>;
  let revocationListeners: Set<(hash: string) => void>;
  let lockout: AuthLockout;
  let metrics: MetricsRegistry;
  let taps: TapService;
  let close: () => Promise<void>;
  const warnings: unknown[] = [];

  const start = async (options: LiveFeedOptions = {}) => {
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}${LIVE_PATH}`;
    close = attachLiveFeed(
      server,
      {
        tokens: {
          verify: (token) => (validTokens.has(token) ? { principal: { name: 'vera', role: 'viewer' }, hash: `hash-of-${token}`, expiresAt: validTokens.get(token) } : { refusal: 'invalid_token' }),
          onRevoked: (listener) => (revocationListeners.add(listener), () => revocationListeners.delete(listener)),
          now: Date.now,
        },
        lockout,
        store,
        registry: { nodes: () => nodes, epoch: () => epoch },
        distribution: {
          syncState: () => ({}),
          isListening: () => false,
          onRolloutChange: (listener) => (rolloutListeners.add(listener), () => rolloutListeners.delete(listener)),
        },
        statusChanges: { watchRollouts: (listener) => (statusListeners.add(listener), () => statusListeners.delete(listener)) },
        traffic: {
          points: (from, to): TrafficPoint[] => {
            trafficAsked.push([from, to]);
            const point = { pool: 'edge', zone: 'zone-a', gateways: 1, requestsPerSecond: 2, serverErrorPercent: 0, p50Ms: 1, p95Ms: 2, p99Ms: 3, rateLimited: 0, retries: 0, breakerOpen: 0, timeouts: 0 };
            return poolTraffic ? [{ time: new Date(from).toISOString(), ...point }] : [];
          },
          servicePoints: (from): ServiceTrafficPoint[] => {
            const point = { service: 'default/checkout', zone: 'zone-a', gateways: 1, requestsPerSecond: 1, serverErrorPercent: 0, p50Ms: 1, p95Ms: 2, p99Ms: 3, rateLimited: 0, retries: 1, breakerOpen: 0, timeouts: 0 };
            return [{ time: new Date(from).toISOString(), ...point }];
          },
        },
        journal: { onEvent: (listener) => (eventListeners.add(listener), () => eventListeners.delete(listener)) },
        taps,
        logger: { warn: (...args: unknown[]) => void warnings.push(args) } as never,
      },
      { gatewaysIntervalMs: 50, ...options },
    );
    await eventually(() => store.watches.length === 1, 'the feed follows the store');
  };
  const viewer = (options?: WebSocket.ClientOptions) => openFeed(url, [LIVE_PROTOCOL, tokenProtocol('viewer-token')], options);

  beforeEach(() => {
    store = new ScriptedStore();
    nodes = [gatewayNode('gw-a', 'zone-a')];
    epoch = 1;
    statusListeners = new Set();
    rolloutListeners = new Set();
    eventListeners = new Set();
    trafficAsked = [];
    poolTraffic = true;
    validTokens = new Map([['viewer-token', undefined]]);
    revocationListeners = new Set();
    metrics = new MetricsRegistry();
    lockout = new AuthLockout({ maxFailures: 3, windowMs: 60_000, blockMs: 60_000 }, metrics, { warn: () => undefined });
    taps = new TapService();
  });
  afterEach(async () => {
    await close?.();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('says hello first, answering with the feed protocol only, then sends the gateways', async () => {
    await start();
    const feed = viewer();
    await feed.waitFor('gateways');
    expect(feed.ws.protocol).toBe(LIVE_PROTOCOL);
    expect(feed.messages[0]).toEqual({ type: 'hello', user: 'vera', role: 'viewer', revision: 7, slotMs: 5_000 });
    expect(feed.messages[1]).toMatchObject({ type: 'gateways', items: [{ id: 'id-gw-a', name: 'gw-a', zone: 'zone-a', pool: 'edge', synced: false, transport: 'none', requestsPerSecond: null }] });
  });

  it('shrugs off what a client should not send: binary frames and unknown messages are ignored, an oversized frame closes only that client (1009)', async () => {
    await start();
    const rude = viewer();
    const bystander = viewer();
    await rude.waitFor('gateways');
    await bystander.waitFor('gateways');
    rude.ws.send(Buffer.from([0, 1, 2, 3]), { binary: true });
    rude.ws.send(JSON.stringify({ type: 'tap' }));
    rude.ws.send(JSON.stringify({ type: 'tap', gateway: 'x'.repeat(200) }));
    rude.ws.send(JSON.stringify(null));
    rude.ws.send(JSON.stringify({ type: 'subscribe-everything', gateway: 'id-gw-a' }));
    await sleep(100);
    expect(rude.ws.readyState).toBe(WebSocket.OPEN);
    expect(taps.wanted('x'.repeat(200))).toBeUndefined();
    rude.ws.send('x'.repeat(5 * 1024));
    expect((await rude.closed).code).toBe(1009);
    // The feed goes on for everyone else.
    store.commit('ADDED', policy('after'));
    expect(await bystander.waitFor('changed')).toMatchObject({ objects: [{ ...policy('after'), change: 'ADDED' }] });
  });

  it('taps a gateway for the client that asked only, until it untaps or leaves', async () => {
    await start();
    const tapping = viewer();
    const other = viewer();
    await tapping.waitFor('gateways');
    await other.waitFor('gateways');
    tapping.ws.send(JSON.stringify({ type: 'tap', gateway: 'id-gw-a' }));
    await eventually(() => taps.wanted('id-gw-a') !== undefined, 'the tap is wanted from the gateway');
    const request: TappedRequest = { time: '2026-12-02T12:00:00Z', method: 'GET', path: '/checkout', status: 200, latencyMs: 3, tries: 1, rateLimited: false, traceId: 't1' };
    taps.deliver('id-gw-a', [request]);
    expect(await tapping.waitFor('tap')).toEqual({ type: 'tap', gateway: 'id-gw-a', requests: [request] });
    tapping.ws.send(JSON.stringify({ type: 'untap', gateway: 'id-gw-a' }));
    await eventually(() => taps.wanted('id-gw-a') === undefined, 'the tap ends with untap');
    tapping.ws.send(JSON.stringify({ type: 'tap', gateway: 'id-gw-a' }));
    tapping.ws.send('not json');
    await eventually(() => taps.wanted('id-gw-a') !== undefined, 'tapped again');
    tapping.ws.close();
    await eventually(() => taps.wanted('id-gw-a') === undefined, 'the tap ends when the client leaves');
    expect(other.count('tap')).toBe(0);
  });

  it('coalesces the changes of ~100 ms into one message, one entry per object, with the rollouts that moved as STATUS', async () => {
    await start();
    const feed = viewer();
    await feed.waitFor('gateways');
    store.commit('ADDED', policy('a'));
    store.commit('MODIFIED', policy('a'));
    store.commit('ADDED', policy('b'));
    for (const listener of statusListeners) listener([policy('c'), policy('b')]);
    const changed = await feed.waitFor('changed');
    expect(changed).toEqual({
      type: 'changed',
      revision: 10,
      objects: [
        { ...policy('a'), change: 'ADDED' },
        { ...policy('b'), change: 'ADDED' },
        { ...policy('c'), change: 'STATUS' },
      ],
    });
    store.commit('DELETED', policy('a'));
    await feed.waitFor('changed', (message) => message.revision === 11);
    expect(feed.count('changed')).toBe(2);
  });

  it('follows the store again from its current revision when a compaction ends the watch', async () => {
    await start();
    const feed = viewer();
    await feed.waitFor('gateways');
    store.current = 42;
    store.expire();
    await eventually(() => store.watches.length === 1, 'the feed watches again');
    expect(store.watches[0].from).toBe(42);
    expect(warnings).toHaveLength(1);
    store.commit('ADDED', policy('after'));
    expect(await feed.waitFor('changed')).toMatchObject({ revision: 43, objects: [{ name: 'after', change: 'ADDED' }] });
  });

  it('sends the gateways again when the registry changed or a heartbeat arrived, not otherwise, the same bytes to every client', async () => {
    await start();
    const first = viewer();
    const second = viewer();
    await first.waitFor('gateways');
    await second.waitFor('gateways');
    // Ten intervals with nothing new.
    await sleep(500);
    expect(first.count('gateways')).toBe(1);

    nodes = [...nodes, gatewayNode('gw-b', 'zone-b')];
    epoch++;
    const joined = await first.waitFor('gateways', (message) => message.items.length === 2);
    expect(joined.items.map((row) => row.name)).toEqual(['gw-a', 'gw-b']);

    const [gwA] = nodes;
    gwA.lastHeartbeat = Date.now();
    gwA.stats = { ...heartbeatStats({ requests: 50, serverErrors: 5, periodMs: 2_000 }), latency: { p50Ms: 3, p95Ms: 8, p99Ms: 12 }, breakers: [{ service: 'orders', state: 'open' }], ejectedEndpoints: [] };
    const beat = await first.waitFor('gateways', (message) => message.items[0].requestsPerSecond !== null);
    expect(beat.items[0]).toMatchObject({ requestsPerSecond: 25, serverErrorPercent: 10, p99Ms: 12, openBreakers: 1, ejectedEndpoints: 0, lastHeartbeat: formatTime(gwA.lastHeartbeat) });
    const seenBySecond = await second.waitFor('gateways', (message) => message.items[0].requestsPerSecond !== null);
    expect(JSON.stringify(seenBySecond)).toBe(JSON.stringify(beat));

    // A gateway's answer (ACK or NACK) moves its sync state: distribution's notice is enough.
    const before = first.count('gateways');
    for (const listener of rolloutListeners) listener();
    await eventually(() => first.count('gateways') > before, 'gateways after a rollout notice');
  });

  it('sends every event the journal records', async () => {
    await start();
    const feed = viewer();
    await feed.waitFor('gateways');
    const event: MeshEvent = { id: '0000000000000001', time: new Date().toISOString(), type: 'Normal', reason: 'ZoneDrained', regarding: { kind: 'Zone', namespace: 'default', name: 'zone-a' }, source: 'spec', message: 'drained' };
    for (const listener of eventListeners) listener(event);
    expect(await feed.waitFor('event')).toEqual({ type: 'event', event });
  });

  it('sends the slot that just ended, once per slot', async () => {
    await start();
    const feed = viewer();
    // One slot is 5 s: the first boundary comes within it.
    const traffic = await feed.waitFor('traffic', () => true, 12_000);
    const [from, to] = trafficAsked[0];
    expect(to - from).toBe(5_000);
    expect(to % 5_000).toBe(0);
    expect(traffic.points).toEqual([expect.objectContaining({ time: new Date(from).toISOString(), pool: 'edge', zone: 'zone-a' })]);
    expect(traffic.services).toEqual([expect.objectContaining({ time: new Date(from).toISOString(), service: 'default/checkout', zone: 'zone-a', retries: 1 })]);
  });

  it('sends a slot that has points per service only', async () => {
    poolTraffic = false;
    await start();
    const feed = viewer();
    const traffic = await feed.waitFor('traffic', () => true, 12_000);
    expect(traffic.points).toEqual([]);
    expect(traffic.services).toEqual([expect.objectContaining({ service: 'default/checkout' })]);
  });

  it('listens to rollout changes only while someone is connected', async () => {
    await start();
    expect(statusListeners.size).toBe(0);
    const first = viewer();
    const second = viewer();
    await first.waitFor('gateways');
    await second.waitFor('gateways');
    expect([statusListeners.size, rolloutListeners.size]).toEqual([1, 1]);
    first.ws.close();
    second.ws.close();
    await eventually(() => statusListeners.size === 0 && rolloutListeners.size === 0, 'unsubscribed');
  });

  it('closes with 4401 and says what to do when the token is missing or refused', async () => {
    await start();
    const refused = await openFeed(url, [LIVE_PROTOCOL, tokenProtocol('not-a-token')]).closed;
    expect(refused).toEqual({ code: LIVE_CLOSE_UNAUTHORIZED, reason: expect.stringContaining('sign in again') });
    const missing = await openFeed(url, [LIVE_PROTOCOL]).closed;
    expect(missing).toEqual({ code: LIVE_CLOSE_UNAUTHORIZED, reason: expect.stringContaining(LIVE_TOKEN_PROTOCOL_PREFIX) });
  });

  it('answers 400 with a Status before the upgrade when the feed protocol is not offered', async () => {
    await start();
    const { status, body } = await openFeed(url, [tokenProtocol('viewer-token')]).refused;
    expect(status).toBe(400);
    expect(JSON.parse(body)).toMatchObject({ kind: 'Status', code: 400, reason: 'BadRequest', message: expect.stringContaining(LIVE_PROTOCOL) });
  });

  it('closes a client that does not read with 1013 instead of buffering without bound', async () => {
    await start({ maxBufferedBytes: 1024 * 1024 });
    const slow = viewer();
    const reader = viewer();
    await slow.waitFor('gateways');
    await reader.waitFor('gateways');
    slow.ws.pause();
    const big = (index: number): MeshEvent => ({ id: String(index).padStart(16, '0'), time: new Date().toISOString(), type: 'Normal', reason: 'Big', regarding: { kind: 'Zone', namespace: 'default', name: 'z' }, source: 'spec', message: 'x'.repeat(512 * 1024) });
    for (let index = 0; index < 64; index++) {
      for (const listener of eventListeners) listener(big(index));
      await sleep(5);
    }
    slow.ws.resume();
    expect((await slow.closed).code).toBe(1013);
    // Whoever reads keeps the feed.
    await reader.waitFor('event', (message) => message.event.id === big(63).id);
    expect(reader.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('terminates a client that misses a pong, and keeps one that answers', async () => {
    await start({ pingIntervalMs: 50 });
    const silent = viewer({ autoPong: false });
    const answering = viewer();
    await answering.waitFor('gateways');
    expect((await silent.closed).code).toBe(1006);
    await sleep(200);
    expect(answering.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('closes every feed of a token with 4401 the moment the token is revoked, and no other feed', async () => {
    // No ping comes within the test: the revocation itself closes the feeds.
    await start({ pingIntervalMs: 60_000 });
    validTokens.set('other-token', undefined);
    const [first, second] = [viewer(), viewer()];
    const other = openFeed(url, [LIVE_PROTOCOL, tokenProtocol('other-token')]);
    await Promise.all([first, second, other].map((feed) => feed.waitFor('gateways')));
    validTokens.delete('viewer-token');
    for (const listener of revocationListeners) listener('hash-of-viewer-token');
    for (const feed of [first, second]) expect(await feed.closed).toEqual({ code: LIVE_CLOSE_UNAUTHORIZED, reason: expect.stringContaining('revoked') });
    store.commit('ADDED', policy('after-revocation'));
    await other.waitFor('changed', (message) => message.objects.some((object) => object.name === 'after-revocation'));
    expect(other.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('closes a feed with 4401 when its token expires, without waiting for a ping', async () => {
    await start({ pingIntervalMs: 60_000 });
    validTokens.set('short-lived', Date.now() + 300);
    const feed = openFeed(url, [LIVE_PROTOCOL, tokenProtocol('short-lived')]);
    await feed.waitFor('hello');
    expect(await feed.closed).toEqual({ code: LIVE_CLOSE_UNAUTHORIZED, reason: expect.stringContaining('expired') });
  });

  it.each([
    ['another site', 'https://evil.example', 403],
    ['the same host over plain HTTP', 'http://HOST', 403],
    ['a sandboxed frame', 'null', 403],
    ['its own dashboard', 'https://HOST', 101],
    ['a client that sends no Origin (not a browser)', undefined, 101],
  ])('answers an upgrade from %s with %s', async (_from, origin, status) => {
    await start();
    // The feed is plain ws:// here; the dashboard's Origin is https:// and the host it connects to.
    const headers: Record<string, string> = origin === undefined ? {} : { origin: origin.replace('HOST', new URL(url).host) };
    const feed = openFeed(url, [LIVE_PROTOCOL, tokenProtocol('viewer-token')], { headers });
    if (status === 101) {
      await feed.waitFor('hello');
      return;
    }
    const refused = await feed.refused;
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ kind: 'Status', code: 403, reason: 'Forbidden' });
  });

  it('counts refused tokens against the address and then refuses it 429, a valid token too, without counting that', async () => {
    await start();
    const guess = async (token: string) => expect((await openFeed(url, [LIVE_PROTOCOL, tokenProtocol(token)]).closed).code).toBe(LIVE_CLOSE_UNAUTHORIZED);
    await guess('guess-1');
    await guess('guess-2');
    // No token at all guesses nothing: it is not counted.
    expect((await openFeed(url, [LIVE_PROTOCOL]).closed).reason).toContain('no token');
    await guess('guess-3');
    const { status, body, headers } = await viewer().refused;
    expect(status).toBe(429);
    expect(headers['retry-after']).toBe('60');
    expect(JSON.parse(body)).toMatchObject({ kind: 'Status', code: 429, reason: 'TooManyRequests', details: { retryAfterSeconds: 60 } });
    const counted = Object.fromEntries((await metrics.authRefusals.get()).values.map((value) => [value.labels.reason, value.value]));
    expect(counted).toEqual({ invalid_token: 3, locked_out: 1 });
  });

  it('closes every feed with 1001 when the control plane stops', async () => {
    await start();
    const feed = viewer();
    await feed.waitFor('gateways');
    await close();
    expect((await feed.closed).code).toBe(1001);
    expect(store.watches).toHaveLength(0);
    expect(eventListeners.size).toBe(0);
  });
});

describe('the live feed and GET /v1/traffic in the control plane', () => {
  const TOKENS = { viewer: 'live-viewer-token-0123456789', admin: 'live-admin-token-0123456789' };
  const BOOTSTRAP = 'live-bootstrap-token-0123456789';
  let cp: InProcessControlPlane;
  let dir: string;
  let feedUrl: string;
  const feeds: Array<ReturnType<typeof openFeed>> = [];
  const open = (protocols: string[]) => {
    const feed = openFeed(feedUrl, protocols, { ca: cp.running.caPem });
    feeds.push(feed);
    return feed;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portolan-live-'));
    const file = join(dir, 'tokens.yaml');
    writeFileSync(file, `tokens:\n  - {name: vera, role: viewer, token: ${TOKENS.viewer}}\n  - {name: ada, role: admin, token: ${TOKENS.admin}}\n`);
    cp = await startInProcess({ PORTOLAN_TOKENS_FILE: file, PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP }, TOKENS.admin);
    feedUrl = `${cp.running.apiUrl.replace('https', 'wss')}${LIVE_PATH}`;
  });
  afterAll(async () => {
    for (const feed of feeds) feed.ws.terminate();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('carries hello, writes, gateways with their heartbeat numbers, and events to a viewer', async () => {
    const feed = open([LIVE_PROTOCOL, tokenProtocol(TOKENS.viewer)]);
    const hello = await feed.waitFor('hello');
    expect(hello).toEqual({ type: 'hello', user: 'vera', role: 'viewer', revision: expect.any(Number), slotMs: 5_000 });

    const created = await cp.client.call('POST', nsPath('ratelimitpolicies'), {
      apiVersion: 'mesh.portolan.dev/v1alpha1',
      kind: 'RateLimitPolicy',
      metadata: { name: 'live-limit' },
      spec: { targetRef: { kind: 'Mesh' }, limits: [{ name: 'per-minute', requests: 100, interval: '60s' }] },
    });
    expect(created.status).toBe(201);
    const changed = await feed.waitFor('changed', (message) => message.objects.some((object) => object.name === 'live-limit'));
    expect(changed.objects).toContainEqual({ kind: 'RateLimitPolicy', namespace: 'default', name: 'live-limit', change: 'ADDED' });
    expect(changed.revision).toBeGreaterThanOrEqual(Number(created.body.metadata.resourceVersion));

    const registered = await cp.client.withToken(BOOTSTRAP).call('POST', '/agent/v1/register', { role: 'gateway', name: 'live-gw', zone: 'zone-a', pool: 'edge', address: '127.0.0.1:1', version: 'test' });
    expect(registered.status).toBe(201);
    const listed = await feed.waitFor('gateways', (message) => message.items.some((row) => row.name === 'live-gw'));
    expect(listed.items.find((row) => row.name === 'live-gw')).toMatchObject({ id: registered.body.id, zone: 'zone-a', pool: 'edge', phase: 'Healthy', requestsPerSecond: null });

    const stats = heartbeatStats({
      requests: 40,
      serverErrors: 4,
      periodMs: 2_000,
      latencyHistogram: latencyHistogram([[20, 40]]),
      services: [{ service: 'default/checkout', requests: 30, serverErrors: 3, rateLimited: 0, retries: 2, breakerOpen: 0, timeouts: 1, latencyHistogram: latencyHistogram([[20, 30]]) }],
    });
    const beat = await cp.client.withToken(registered.body.credential).call('POST', `/agent/v1/nodes/${registered.body.id}/heartbeat`, { stats: { ...stats, latency: { p50Ms: 10, p95Ms: 18, p99Ms: 20 } } });
    expect(beat.status).toBe(200);
    const numbers = await feed.waitFor('gateways', (message) => message.items.some((row) => row.name === 'live-gw' && row.requestsPerSecond !== null));
    expect(numbers.items.find((row) => row.name === 'live-gw')).toMatchObject({ requestsPerSecond: 20, serverErrorPercent: 10, p99Ms: 20 });

    // A drain writes the Zone object and records ZoneDrained.
    expect((await cp.client.call('POST', '/v1/zones/zone-live/drain', { reason: 'live feed spec' })).status).toBe(200);
    expect(await feed.waitFor('event', (message) => message.event.reason === 'ZoneDrained')).toMatchObject({ event: { regarding: { kind: 'Zone', name: 'zone-live' }, message: expect.stringContaining('zone-live') } });
    await feed.waitFor('changed', (message) => message.objects.some((object) => object.kind === 'Zone' && object.name === 'zone-live'));

    // The heartbeat's slot ends within 5 s: it comes as traffic, and GET /v1/traffic has it.
    const traffic = await feed.waitFor('traffic', (message) => message.points.some((point) => point.pool === 'edge' && point.zone === 'zone-a'), 12_000);
    const point = traffic.points.find((candidate) => candidate.zone === 'zone-a')!;
    // The heartbeat covered 2 s: the slot's rate is the gateway's own (as its row says), not 40 answers spread over 5 s.
    expect(point).toMatchObject({ gateways: 1, requestsPerSecond: 20, serverErrorPercent: 10, retries: 0, rateLimited: 0, breakerOpen: 0, timeouts: 0 });
    expect(point.p99Ms).toBeGreaterThan(10);
    expect(point.p99Ms).toBeLessThanOrEqual(25);
    // The same slot per service, in the gateway's zone.
    const servicePoint = traffic.services.find((candidate) => candidate.service === 'default/checkout' && candidate.zone === 'zone-a')!;
    expect(servicePoint).toMatchObject({ time: point.time, gateways: 1, requestsPerSecond: 15, serverErrorPercent: 10, retries: 5, timeouts: 2.5, rateLimited: 0, breakerOpen: 0 });
    expect(servicePoint.p99Ms).toBeGreaterThan(10);

    const history = await cp.client.withToken(TOKENS.viewer).call('GET', '/v1/traffic');
    expect(history.status).toBe(200);
    expect(history.body.items).toContainEqual(point);
    expect(history.body.services).toContainEqual(servicePoint);
    const since = await cp.client.withToken(TOKENS.viewer).call('GET', `/v1/traffic?since=${encodeURIComponent(point.time)}`);
    expect(since.body.items[0]).toEqual(point);
    expect(since.body.services[0]).toEqual(servicePoint);
    const later = new Date(Date.parse(point.time) + 5_000).toISOString();
    const after = (await cp.client.withToken(TOKENS.viewer).call('GET', `/v1/traffic?since=${later}`)).body;
    expect(after.items.filter((item: TrafficPoint) => item.zone === 'zone-a')).toEqual([]);
    expect(after.services).toEqual([]);
  });

  it('refuses a bad token with close code 4401, and a client without the protocol with a 400 Status', async () => {
    const refused = await open([LIVE_PROTOCOL, tokenProtocol('wrong')]).closed;
    expect(refused.code).toBe(LIVE_CLOSE_UNAUTHORIZED);
    const { status, body } = await open([]).refused;
    expect(status).toBe(400);
    expect(JSON.parse(body)).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
  });

  it('leaves other WebSocket paths to the agent stream', async () => {
    const other = openFeed(`${cp.running.apiUrl.replace('https', 'wss')}/v1/elsewhere`, [LIVE_PROTOCOL], { ca: cp.running.caPem });
    feeds.push(other);
    expect((await other.refused).status).toBe(404);
  });

  it('answers GET /v1/traffic to viewers only, and a bad since with a 400 Status naming it', async () => {
    expect((await cp.client.withToken(undefined).call('GET', '/v1/traffic')).status).toBe(401);
    const bad = await cp.client.withToken(TOKENS.viewer).call('GET', '/v1/traffic?since=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ kind: 'Status', reason: 'BadRequest', details: { causes: [{ field: 'since' }] }, message: expect.stringContaining('RFC 3339') });
    const unknown = await cp.client.withToken(TOKENS.viewer).call('GET', '/v1/traffic?from=2026-01-01T00:00:00Z');
    expect(unknown.status).toBe(400);
    expect(unknown.body.details.causes[0].field).toBe('from');
  });
});
