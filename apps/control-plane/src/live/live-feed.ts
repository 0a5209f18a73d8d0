/**
 * The dashboard's live feed (libs/api/src/views/live.ts, docs/dashboard.md): `GET
 * /v1/live` upgraded to a WebSocket on the API's HTTPS server, next to the agent stream. One
 * connection carries what changes while an operator looks: objects written and policies whose
 * rollout moved (`changed`), the gateways (`gateways`), each traffic slot as it ends, per pool and
 * per service (`traffic`), and every event the journal records (`event`).
 *
 * Browsers cannot send an Authorization header with a WebSocket, so the token comes as a second
 * subprotocol next to LIVE_PROTOCOL; the answer names LIVE_PROTOCOL only, so the token is never
 * echoed. A refused token completes the upgrade and then closes with LIVE_CLOSE_UNAUTHORIZED: a
 * browser cannot read the status of a refused upgrade, only a close code. A feed closes the same
 * way the moment its token is revoked (here or on another replica) or expires. An upgrade from a
 * page of another site (its Origin, same-origin.ts) is refused 403; one from a locked-out address
 * (auth/auth-lockout.ts) 429.
 *
 * Every message is built and serialized once and the same bytes are written to every client; a
 * client that does not read (its unsent bytes pass maxBufferedBytes) is closed with 1013 rather
 * than buffered for without bound. Plain `ws` as in distribution/agent-stream.ts, for the same
 * reasons: the upgrade is authenticated before it is accepted, and frames are shared buffers.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { failureStatus, LIVE_CLOSE_UNAUTHORIZED, LIVE_PATH, LIVE_PROTOCOL, LIVE_TOKEN_PROTOCOL_PREFIX, type LiveClientMessage, type LiveMessage } from '@portolan/api';
import { lockedOutStatus, type AuthLockout } from '../auth/auth-lockout';
import type { Principal } from '../auth/roles';
import type { TokenService } from '../auth/token-service';
import { refuseUpgrade } from '../errors/upgrade-refusal';
import { SLOT_MS, type PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import type { EventJournal } from '../events/event-journal';
import type { NodeRegistry } from '../registry/node-registry';
import type { ObjectKey, ResourceStore, Unsubscribe } from '../store/resource-store';
import type { TapService } from '../tap/tap.service';
import { answerHandshakeErrors } from '../errors/raw-refusals';
import { gatewayRows, type GatewayRowSources } from './gateway-rows';
import { isForeignOrigin } from './same-origin';

export interface LiveFeedDependencies {
  tokens: Pick<TokenService, 'verify' | 'onRevoked' | 'now'>;
  /** Refused tokens count against the source address; a locked-out address is refused. */
  lockout: Pick<AuthLockout, 'retryAfterSeconds' | 'failed'>;
  store: Pick<ResourceStore, 'watch' | 'revision'>;
  registry: Pick<NodeRegistry, 'nodes' | 'epoch'>;
  /** Sync state of each gateway, and a notice when gateways answered or a rebuild changed what they should run. */
  distribution: GatewayRowSources['distribution'] & { onRolloutChange(listener: () => void): () => void };
  /** Policies whose derived status (rollout) changed without a write: what `?watch=true` sends as MODIFIED. */
  statusChanges: { watchRollouts(listener: (keys: ObjectKey[]) => void): () => void };
  traffic: Pick<PoolTrafficWindow, 'points' | 'servicePoints'>;
  journal: Pick<EventJournal, 'onEvent'>;
  /** Live taps: a client's `tap` message subscribes it to a gateway's sampled requests. */
  taps: Pick<TapService, 'subscribe'>;
  logger: Pick<Logger, 'warn'>;
}

export interface LiveFeedOptions {
  pingIntervalMs?: number;
  /** Changes arriving within this long of the first one go out as one `changed` message. */
  changeDelayMs?: number;
  /** `gateways` goes out at most this often. */
  gatewaysIntervalMs?: number;
  /** A client with more unsent bytes than this is closed (1013) instead of buffered for. */
  maxBufferedBytes?: number;
}

const DEFAULTS: Required<LiveFeedOptions> = { pingIntervalMs: 30_000, changeDelayMs: 100, gatewaysIntervalMs: 1_000, maxBufferedBytes: 8 * 1024 * 1024 };
/** How long closing waits for clients to answer the close frame before it drops their connections. */
const CLOSE_GRACE_MS = 1_000;
const STORE_RETRY_MS = 1_000;
/** Close code of RFC 6455's registry: "Try Again Later". */
const CLOSE_TRY_AGAIN_LATER = 1013;
/** setTimeout's longest delay (about 24.8 days); a token may live a year, so its expiry timer is re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

type ChangedObject = Extract<LiveMessage, { type: 'changed' }>['objects'][number];

interface Client {
  ws: WebSocket;
  /** The hash of its token (TokenCheck's): revoking the token names it. */
  tokenHash: string;
  /** Closes the feed when its token expires. */
  expiryTimer?: NodeJS.Timeout;
  /** Answered the last ping. */
  alive: boolean;
}

/** A dashboard's message (LiveClientMessage), or undefined for anything else: ignored, a newer client may send more. */
function readClientMessage(data: RawData, isBinary: boolean): LiveClientMessage | undefined {
  if (isBinary) return undefined;
  try {
    const message = JSON.parse(data.toString()) as Partial<LiveClientMessage>;
    if ((message.type === 'tap' || message.type === 'untap') && typeof message.gateway === 'string' && message.gateway.length > 0 && message.gateway.length <= 128) {
      return { type: message.type, gateway: message.gateway };
    }
  } catch {
    // not JSON: ignored like an unknown message
  }
  return undefined;
}

function offeredProtocols(request: IncomingMessage): string[] {
  return (request.headers['sec-websocket-protocol'] ?? '').split(',').map((protocol) => protocol.trim()).filter(Boolean);
}

function tokenOf(protocols: string[]): string | undefined {
  const offered = protocols.find((protocol) => protocol.startsWith(LIVE_TOKEN_PROTOCOL_PREFIX));
  const token = offered && Buffer.from(offered.slice(LIVE_TOKEN_PROTOCOL_PREFIX.length), 'base64url').toString('utf8');
  return token || undefined;
}

/**
 * Two changes of one object within a message are one entry. A write's refetch brings the status
 * too, so STATUS never replaces a write; an object added then modified is still new to the client.
 */
function mergeChange(previous: ChangedObject['change'] | undefined, next: ChangedObject['change']): ChangedObject['change'] {
  if (previous === undefined || previous === 'STATUS') return next;
  if (next === 'STATUS' || (previous === 'ADDED' && next === 'MODIFIED')) return previous;
  return next;
}

/** Serves the live feed on `server`; returns a function that closes every feed. */
export function attachLiveFeed(server: Server, deps: LiveFeedDependencies, options: LiveFeedOptions = {}): () => Promise<void> {
  const { pingIntervalMs, changeDelayMs, gatewaysIntervalMs, maxBufferedBytes } = { ...DEFAULTS, ...options };
  const { tokens, lockout, store, registry, distribution, statusChanges, traffic, journal, logger } = deps;
  // What a dashboard may send (LiveClientMessage) is a few bytes: a small bound keeps a peer from making the server buffer.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024, handleProtocols: () => LIVE_PROTOCOL });
  answerHandshakeErrors(wss);
  /** Clients that got their hello: every broadcast goes to them. */
  const clients = new Set<Client>();
  /** Every authenticated client, from its upgrade on (before its hello too): what revocation and expiry close. */
  const sessions = new Set<Client>();
  let closed = false;

  const send = (client: Client, frame: Buffer) => {
    const { ws } = client;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > maxBufferedBytes) {
      ws.close(CLOSE_TRY_AGAIN_LATER, 'too slow: messages piled up unread; reconnect');
      return;
    }
    ws.send(frame, { binary: false });
  };
  const broadcast = (message: LiveMessage) => {
    const frame = Buffer.from(JSON.stringify(message));
    for (const client of clients) send(client, frame);
  };

  // --- changed: every committed change, and policies whose rollout moved, coalesced ---
  /** The last revision the store watch reached (undefined until it follows the store). */
  let revision: number | undefined;
  const pending = new Map<string, ChangedObject>();
  let changeTimer: NodeJS.Timeout | undefined;
  const flushChanges = () => {
    changeTimer = undefined;
    if (pending.size === 0 || clients.size === 0) return pending.clear();
    const objects = [...pending.values()];
    pending.clear();
    broadcast({ type: 'changed', revision: revision ?? 0, objects });
  };
  const noteChange = (key: ObjectKey, change: ChangedObject['change']) => {
    if (clients.size === 0) return;
    const id = `${key.kind}/${key.namespace}/${key.name}`;
    pending.set(id, { kind: key.kind, namespace: key.namespace, name: key.name, change: mergeChange(pending.get(id)?.change, change) });
    changeTimer ??= setTimeout(flushChanges, changeDelayMs);
  };

  let stopWatch: Unsubscribe | undefined;
  let storeRetry: NodeJS.Timeout | undefined;
  const followStore = async () => {
    try {
      const from = await store.revision();
      if (closed) return;
      revision = from;
      const unsubscribe = await store.watch(
        from,
        (change) => {
          revision = change.revision;
          noteChange(change.key, change.type);
        },
        // This replica fell behind a compaction (Consul): what happened meanwhile cannot be named.
        (error) => {
          logger.warn({ err: error }, 'the live feed fell behind the compacted change history; it follows the store again from its current revision (open dashboards show the changes in between after a reload)');
          stopWatch = undefined;
          void followStore();
        },
      );
      if (closed) unsubscribe();
      else stopWatch = unsubscribe;
    } catch (error) {
      if (closed) return;
      logger.warn({ err: error }, `the live feed cannot follow the store; trying again in ${STORE_RETRY_MS / 1000} s`);
      storeRetry = setTimeout(() => void followStore(), STORE_RETRY_MS);
    }
  };
  void followStore();

  // --- gateways: built when something changed, at most once per interval ---
  /** Gateway answers and rebuilds seen (distribution's rollout notices), which move `synced` and `nack`. */
  let syncNotices = 0;
  let gateways: { frame: Buffer; epoch: number; syncNotices: number; builtAt: number } | undefined;
  const buildGateways = () => {
    const builtAt = Date.now();
    const epoch = registry.epoch();
    const message: LiveMessage = { type: 'gateways', items: gatewayRows({ registry, distribution }, builtAt) };
    gateways = { frame: Buffer.from(JSON.stringify(message)), epoch, syncNotices, builtAt };
    return gateways;
  };
  // Heartbeats are not registry changes (no epoch): a gateway's last heartbeat time tells.
  const heartbeatSince = (time: number) => registry.nodes().some((node) => node.role === 'gateway' && node.lastHeartbeat >= time);
  const gatewaysTimer = setInterval(() => {
    if (clients.size === 0 || !gateways) return;
    if (gateways.epoch === registry.epoch() && gateways.syncNotices === syncNotices && !heartbeatSince(gateways.builtAt)) return;
    const { frame } = buildGateways();
    for (const client of clients) send(client, frame);
  }, gatewaysIntervalMs);

  // --- traffic: the slot that just ended, right after it ends ---
  const started = Date.now();
  let trafficSentUntil = started - (started % SLOT_MS);
  let trafficTimer: NodeJS.Timeout | undefined;
  const scheduleTraffic = () => {
    trafficTimer = setTimeout(sendTraffic, SLOT_MS - (Date.now() % SLOT_MS));
  };
  const sendTraffic = () => {
    const now = Date.now();
    const until = now - (now % SLOT_MS);
    // A late timer (a busy event loop) sends every slot that ended meanwhile.
    if (clients.size > 0 && until > trafficSentUntil) {
      const points = traffic.points(trafficSentUntil, until);
      const services = traffic.servicePoints(trafficSentUntil, until);
      if (points.length > 0 || services.length > 0) broadcast({ type: 'traffic', points, services });
    }
    trafficSentUntil = Math.max(trafficSentUntil, until);
    scheduleTraffic();
  };
  scheduleTraffic();

  // --- event: as the journal records them ---
  const stopEvents = journal.onEvent((event) => {
    if (clients.size > 0) broadcast({ type: 'event', event });
  });

  // --- connections ---
  /** Listened to only while someone looks: rollout fingerprints cost a pass over every policy. */
  let stopWhileWatched: Array<() => void> = [];
  const join = (client: Client) => {
    clients.add(client);
    if (clients.size > 1) return;
    stopWhileWatched = [
      statusChanges.watchRollouts((keys) => {
        for (const key of keys) noteChange(key, 'STATUS');
      }),
      distribution.onRolloutChange(() => syncNotices++),
    ];
  };
  const leave = (client: Client) => {
    if (!clients.delete(client) || clients.size > 0) return;
    for (const stop of stopWhileWatched) stop();
    stopWhileWatched = [];
    // Stale by the time someone looks again.
    gateways = undefined;
  };

  const endSession = (client: Client, reason: string) => client.ws.close(LIVE_CLOSE_UNAUTHORIZED, reason);
  const stopRevocations = tokens.onRevoked((hash) => {
    for (const client of sessions) if (client.tokenHash === hash) endSession(client, 'the token was revoked: sign in again with a valid token');
  });
  const watchExpiry = (client: Client, expiresAt: number) => {
    const remaining = expiresAt - tokens.now();
    if (remaining <= 0) return endSession(client, 'the token expired: sign in again with a valid token');
    client.expiryTimer = setTimeout(() => watchExpiry(client, expiresAt), Math.min(remaining, MAX_TIMER_MS));
  };

  const serve = async (ws: WebSocket, tokenHash: string, expiresAt: number | undefined, principal: Principal) => {
    const client: Client = { ws, tokenHash, alive: true };
    sessions.add(client);
    if (expiresAt !== undefined) watchExpiry(client, expiresAt);
    ws.on('pong', () => (client.alive = true));
    ws.on('close', () => {
      sessions.delete(client);
      clearTimeout(client.expiryTimer);
      leave(client);
    });
    ws.on('error', () => ws.terminate());
    let current = revision;
    if (current === undefined) {
      try {
        current = await store.revision();
      } catch {
        ws.close(1011, 'the mesh store cannot be read right now; reconnect later');
        return;
      }
    }
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ type: 'hello', user: principal.name, role: principal.role, revision: current, slotMs: SLOT_MS } satisfies LiveMessage));
    join(client);
    const taps = new Map<string, () => void>();
    ws.on('close', () => {
      for (const stop of taps.values()) stop();
    });
    ws.on('message', (data, isBinary) => {
      const message = readClientMessage(data, isBinary);
      if (!message) return;
      if (message.type === 'untap') {
        taps.get(message.gateway)?.();
        taps.delete(message.gateway);
      } else if (!taps.has(message.gateway)) {
        const { gateway } = message;
        // Sent to this client only: a tap is one operator's. Past the user's bound the request is ignored.
        const stop = deps.taps.subscribe(gateway, (requests) => send(client, Buffer.from(JSON.stringify({ type: 'tap', gateway, requests } satisfies LiveMessage))), principal.name);
        if (stop) taps.set(gateway, stop);
      }
    });
    // The last gateways message is at most one interval old; the next tick brings anything newer.
    send(client, (gateways ?? buildGateways()).frame);
  };

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if ((request.url ?? '').split('?')[0] !== LIVE_PATH) return;
    if (isForeignOrigin(request.headers.origin, request.headers.host)) {
      return refuseUpgrade(socket, failureStatus(403, 'Forbidden', `${LIVE_PATH} serves the dashboard of this control plane only: a page of ${request.headers.origin} may not open it`));
    }
    const protocols = offeredProtocols(request);
    if (!protocols.includes(LIVE_PROTOCOL)) {
      return refuseUpgrade(socket, failureStatus(400, 'BadRequest', `${LIVE_PATH} speaks the WebSocket subprotocol ${LIVE_PROTOCOL}: offer it, with the token as ${LIVE_TOKEN_PROTOCOL_PREFIX}<base64url of the token>`));
    }
    const address = request.socket.remoteAddress;
    const retryAfterSeconds = lockout.retryAfterSeconds(address);
    if (retryAfterSeconds > 0) return refuseUpgrade(socket, lockedOutStatus(retryAfterSeconds), { 'Retry-After': String(retryAfterSeconds) });
    const token = tokenOf(protocols);
    const check = token ? tokens.verify(token) : undefined;
    if (check && !check.principal) lockout.failed(address, check.refusal);
    wss.handleUpgrade(request, socket, head, (ws) => {
      if (check?.principal) return void serve(ws, check.hash, check.expiresAt, check.principal);
      // A close reason has at most 123 bytes.
      if (!check) return ws.close(LIVE_CLOSE_UNAUTHORIZED, `no token: offer ${LIVE_TOKEN_PROTOCOL_PREFIX}<base64url token> too`);
      ws.close(LIVE_CLOSE_UNAUTHORIZED, check.refusal === 'expired_token' ? 'the token expired: sign in again with a valid token' : 'the token was refused: sign in again with a valid token');
    });
  };

  const pinger = setInterval(() => {
    for (const client of clients) {
      if (!client.alive) {
        client.ws.terminate();
        continue;
      }
      client.alive = false;
      client.ws.ping();
    }
  }, pingIntervalMs);

  server.on('upgrade', onUpgrade);
  return async () => {
    if (closed) return;
    closed = true;
    server.off('upgrade', onUpgrade);
    for (const timer of [pinger, gatewaysTimer]) clearInterval(timer);
    for (const timer of [trafficTimer, changeTimer, storeRetry]) clearTimeout(timer);
    stopWatch?.();
    stopEvents();
    stopRevocations();
    for (const client of sessions) clearTimeout(client.expiryTimer);
    for (const stop of stopWhileWatched) stop();
    const open = [...wss.clients];
    const gone = Promise.all(open.map((ws) => new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', () => resolve())))));
    for (const ws of open) ws.close(1001, 'the control plane is stopping');
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([gone, new Promise<void>((resolve) => (grace = setTimeout(resolve, CLOSE_GRACE_MS)))]);
    clearTimeout(grace);
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };
}
