/**
 * The WebSocket transport of the agent protocol: `GET /agent/v1/nodes/{id}/stream` upgraded on the
 * API's HTTPS server. The current snapshot is sent on connect and every new one the moment it is
 * built; the gateway answers each with an ACK or NACK frame. Both sides ping; a peer that misses a
 * whole ping period is terminated, so a half-open TCP connection cannot hide a gone gateway.
 * Upgrades count against the source address's failed authentications like every API request
 * (auth/auth-lockout.ts); a stream whose node credential an operator revoked closes with 4401.
 *
 * Plain `ws` rather than @nestjs/websockets: the upgrade must be authenticated with the node
 * credential before it is accepted, and snapshots are written as fragments of shared buffers,
 * neither of which Nest's gateway abstraction exposes.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { failureStatus, LIVE_PATH } from '@portolan/api';
import { AGENT_API_PREFIX, PROTOCOL_DEFAULTS, type ClientMessage } from '@portolan/agent-client';
import type { AgentCertificateGate } from '../auth/agent-certificate/agent-certificate-gate';
import { lockedOutStatus, type AuthLockout } from '../auth/auth-lockout';
import { refuseUpgrade } from '../errors/upgrade-refusal';
import type { NodeRegistry, RemovalCause } from '../registry/node-registry';
import type { Logger } from 'pino';
import { readAckRequest } from './ack-request';
import type { DistributionService } from './distribution.service';
import { answerHandshakeErrors } from '../errors/raw-refusals';
import { snapshotFrames, type GatewaySnapshot } from './snapshot-builder';

const STREAM_PATH = new RegExp(`^${AGENT_API_PREFIX}/nodes/([^/?]+)/stream(?:\\?.*)?$`);

/** How long a stream that failed keeps its socket, so the close frame saying why goes out. */
const CLOSE_FRAME_GRACE_MS = 1_000;

/** The code `ws` reports for a connection that ended without a close frame (RFC 6455, 7.1.5). */
const CLOSED_WITHOUT_CLOSE_FRAME = 1006;

/** Close code of a stream whose node credential was revoked, as the live feed's for a refused token. */
export const AGENT_CLOSE_CREDENTIAL_REVOKED = 4401;

export interface AgentStreamOptions {
  pingIntervalMs?: number;
  /** With PORTOLAN_TLS_AGENT_CLIENT_CA_FILE: the client certificate is checked before the credential. */
  clientCertificates?: Pick<AgentCertificateGate, 'streamRefusal'>;
}

/** Handles agent upgrades on `server`; returns a function that closes every stream. */
export function attachAgentStream(
  server: Server,
  registry: NodeRegistry,
  distribution: DistributionService,
  lockout: Pick<AuthLockout, 'retryAfterSeconds' | 'failed'>,
  logger: Pick<Logger, 'warn'>,
  options: AgentStreamOptions = {},
): () => Promise<void> {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });
  answerHandshakeErrors(wss);
  const pingIntervalMs = options.pingIntervalMs ?? PROTOCOL_DEFAULTS.pingIntervalMs;
  /** Streams open per gateway: one that reconnected may still have its old stream here, closing late. */
  const openStreams = new Map<string, number>();
  let shuttingDown = false;

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // The dashboard's live feed (live/live-feed.ts) answers its own path on this server.
    if ((request.url ?? '').split('?')[0] === LIVE_PATH) return;
    const match = STREAM_PATH.exec(request.url ?? '');
    if (!match) return refuseUpgrade(socket, failureStatus(404, 'NotFound', `no WebSocket endpoint at ${request.url}; agents connect to ${AGENT_API_PREFIX}/nodes/{id}/stream`));
    const address = request.socket.remoteAddress;
    const retryAfterSeconds = lockout.retryAfterSeconds(address);
    if (retryAfterSeconds > 0) return refuseUpgrade(socket, lockedOutStatus(retryAfterSeconds), { 'Retry-After': String(retryAfterSeconds) });
    let id: string;
    try {
      id = decodeURIComponent(match[1]);
    } catch {
      // Thrown out of an 'upgrade' listener, the URIError would end the process.
      return refuseUpgrade(socket, failureStatus(400, 'BadRequest', `the node id in ${request.url} is not valid percent-encoding`));
    }
    const certificateRefusal = options.clientCertificates?.streamRefusal(request.socket, id);
    if (certificateRefusal) return refuseUpgrade(socket, certificateRefusal);
    const credential = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1]?.trim();
    const node = credential ? registry.authenticate(id, credential) : undefined;
    if (!node) {
      // As on the HTTP node routes: only a credential tried against a node that exists is a guess.
      if (credential && registry.get(id) !== undefined) lockout.failed(address, 'invalid_node_credential');
      return refuseUpgrade(socket, failureStatus(401, 'Unauthorized', `Unauthorized: node ${id} needs its registration credential (Authorization: Bearer <credential>)`));
    }
    if (node.role !== 'gateway') return refuseUpgrade(socket, failureStatus(400, 'BadRequest', `node ${node.name} is a service instance; only gateways receive snapshots`));
    wss.handleUpgrade(request, socket, head, (ws) => serve(ws, id));
  };

  const serve = (ws: WebSocket, id: string) => {
    let alive = true;
    ws.on('pong', () => (alive = true));
    const pinger = setInterval(() => {
      if (!alive) return ws.terminate();
      alive = false;
      ws.ping();
    }, pingIntervalMs);
    const deliver = (snapshot: GatewaySnapshot) => {
      if (ws.readyState !== ws.OPEN) return;
      const [open, routes, close] = snapshotFrames(snapshot, true);
      ws.send(open, { fin: false, binary: false });
      ws.send(routes, { fin: false, binary: false });
      ws.send(close, { fin: true, binary: false });
    };
    const close = (cause?: RemovalCause) =>
      cause === 'credential-revoked' ? ws.close(AGENT_CLOSE_CREDENTIAL_REVOKED, 'the node credential was revoked: register again with the bootstrap token') : ws.close(1000, 'node deregistered');
    const detach = distribution.attach(id, { transport: 'websocket', deliver, close }, true);
    ws.on('message', (data) => {
      let message: ClientMessage;
      try {
        message = JSON.parse(data.toString()) as ClientMessage;
      } catch {
        logger.warn({ gateway: id }, 'agent sent a frame that is not JSON; ignored');
        return;
      }
      if (message.type !== 'ack') return;
      try {
        distribution.acknowledge(id, readAckRequest(message.ack));
      } catch (error) {
        logger.warn({ gateway: id, err: error }, 'agent sent an ACK the control plane cannot read; ignored');
      }
    });
    openStreams.set(id, (openStreams.get(id) ?? 0) + 1);
    registry.setStreamLost(id, false);
    ws.on('close', (code) => {
      clearInterval(pinger);
      detach();
      const stillOpen = openStreams.get(id)! - 1;
      if (stillOpen > 0) openStreams.set(id, stillOpen);
      else openStreams.delete(id);
      // 1006: no close frame came, so the gateway did not say goodbye: killed, its host gone, or
      // silent for a whole ping period (terminated above). An agent that stops closes with 1001.
      if (stillOpen === 0 && code === CLOSED_WITHOUT_CLOSE_FRAME && !shuttingDown) registry.setStreamLost(id, true);
    });
    // On a protocol error `ws` has queued its close frame (1002, 1007, 1009) just before 'error':
    // cutting the socket at once could drop that frame unsent while a snapshot is still being
    // written, so the peer gets a moment to read it.
    ws.on('error', () => setTimeout(() => ws.terminate(), CLOSE_FRAME_GRACE_MS).unref());
  };

  server.on('upgrade', onUpgrade);
  return async () => {
    shuttingDown = true;
    server.off('upgrade', onUpgrade);
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };
}
