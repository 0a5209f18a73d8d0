/**
 * The WebSocket transport of the agent protocol: `GET /agent/v1/nodes/{id}/stream` upgraded on the
 * API's HTTPS server. The current snapshot is sent on connect and every new one the moment it is
 * built; the gateway answers each with an ACK or NACK frame. Both sides ping; a peer that misses a
 * whole ping period is terminated, so a half-open TCP connection cannot hide a gone gateway.
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
import type { NodeRegistry } from '../registry/node-registry';
import type { Logger } from 'pino';
import { readAckRequest } from './ack-request';
import type { DistributionService } from './distribution.service';
import { snapshotFrames, type GatewaySnapshot } from './snapshot-builder';

const STREAM_PATH = new RegExp(`^${AGENT_API_PREFIX}/nodes/([^/?]+)/stream(?:\\?.*)?$`);

function refuse(socket: Duplex, code: number, reason: 'Unauthorized' | 'NotFound' | 'BadRequest', message: string): void {
  const body = JSON.stringify(failureStatus(code, reason, message));
  socket.end(`HTTP/1.1 ${code} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export interface AgentStreamOptions {
  pingIntervalMs?: number;
}

/** Handles agent upgrades on `server`; returns a function that closes every stream. */
export function attachAgentStream(
  server: Server,
  registry: NodeRegistry,
  distribution: DistributionService,
  logger: Pick<Logger, 'warn'>,
  options: AgentStreamOptions = {},
): () => Promise<void> {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });
  const pingIntervalMs = options.pingIntervalMs ?? PROTOCOL_DEFAULTS.pingIntervalMs;

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // The dashboard's live feed (live/live-feed.ts) answers its own path on this server.
    if ((request.url ?? '').split('?')[0] === LIVE_PATH) return;
    const match = STREAM_PATH.exec(request.url ?? '');
    if (!match) return refuse(socket, 404, 'NotFound', `no WebSocket endpoint at ${request.url}; agents connect to ${AGENT_API_PREFIX}/nodes/{id}/stream`);
    const id = decodeURIComponent(match[1]);
    const credential = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1]?.trim();
    const node = credential ? registry.authenticate(id, credential) : undefined;
    if (!node) return refuse(socket, 401, 'Unauthorized', `Unauthorized: node ${id} needs its registration credential (Authorization: Bearer <credential>)`);
    if (node.role !== 'gateway') return refuse(socket, 400, 'BadRequest', `node ${node.name} is a service instance; only gateways receive snapshots`);
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
    const detach = distribution.attach(id, { transport: 'websocket', deliver, close: () => ws.close(1000, 'node deregistered') }, true);
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
    ws.on('close', () => {
      clearInterval(pinger);
      detach();
    });
    ws.on('error', () => ws.terminate());
  };

  server.on('upgrade', onUpgrade);
  return async () => {
    server.off('upgrade', onUpgrade);
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };
}
