/**
 * The heartbeat lane: `POST /agent/v1/nodes/{id}/heartbeat` answered beside Express and Nest.
 *
 * Heartbeats are the control plane's most frequent request: every gateway and instance sends one
 * per heartbeat interval (500 a second for 1,000 gateways at the default 2 s). Through Express's
 * router, body parsers and middleware and Nest's guard, pipes and exception filter, one cost about
 * 1.3 ms of CPU on the benchmark machine, so about 700 a second filled a core and delayed every
 * other request, snapshot pushes included (docs/benchmarks.md, "Policy propagation").
 *
 * The lane takes only a heartbeat its headers say will be accepted: a JSON body within the API's
 * limit, a node credential that authenticates, a source address not locked out, no identity
 * headers of a Kubernetes front proxy, and no client-certificate gate for agents. It runs the same
 * controller method as the routed request (validation, registry, autoscaler window, tap) and
 * answers what Nest would, with the same request metric, trace id and log line. Everything else —
 * refusals, lockout counting, odd bodies, mTLS — goes the usual way through Express, so those
 * rules live in one place.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { failureStatus, type Status } from '@portolan/api';
import { AGENT_API_PREFIX, type HeartbeatResponse } from '@portolan/agent-client';
import type { Logger } from 'pino';
import type { AuthLockout } from '../auth/auth-lockout';
import { ApiError } from '../errors/api-error';
import type { MetricsRegistry } from '../telemetry/metrics';
import { runWithContext, traceIdFrom, type RequestContext } from '../telemetry/request-context';
import type { NodeRegistry, RegisteredNode } from './node-registry';

/** The route template the routed request reports in metrics and logs; the lane reports the same. */
const ROUTE = `${AGENT_API_PREFIX}/nodes/:id/heartbeat`;
const HEARTBEAT_PATH = new RegExp(`^${AGENT_API_PREFIX.replaceAll('/', '\\/')}\\/nodes\\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\\/heartbeat$`);
const JSON_CONTENT_TYPE = /^application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

export interface HeartbeatLaneOptions {
  registry: Pick<NodeRegistry, 'authenticate'>;
  lockout: Pick<AuthLockout, 'isLockedOut'>;
  /** The controller's heartbeat: validates, records, answers; throws ApiError. */
  heartbeat: (id: string, body: unknown) => Promise<HeartbeatResponse>;
  metrics: Pick<MetricsRegistry, 'httpRequestDuration'>;
  logger: Pick<Logger, 'debug' | 'error'>;
  /** The API's body limit in bytes; larger heartbeats go the usual way (and are refused there). */
  bodyLimitBytes: number;
  /** Whether a request must go the usual way for who it is: front-proxy identity headers, client certificates. */
  needsFullAuthentication: (request: IncomingMessage) => boolean;
}

/** Puts the lane in front of the server's request handler (Express); call once the server exists. */
export function attachHeartbeatLane(server: Server, options: HeartbeatLaneOptions): void {
  const routed = server.listeners('request') as Array<(request: IncomingMessage, response: ServerResponse) => void>;
  if (routed.length !== 1) throw new Error(`the heartbeat lane expects one request handler on the API server, found ${routed.length}`);
  const [usualWay] = routed;
  server.removeAllListeners('request');
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const node = laneFor(request, options);
    if (node === undefined) usualWay(request, response);
    else serve(node, request, response, options);
  });
}

/** The node when the lane takes the request, else undefined. */
function laneFor(request: IncomingMessage, options: HeartbeatLaneOptions): RegisteredNode | undefined {
  if (request.method !== 'POST') return undefined;
  const id = HEARTBEAT_PATH.exec(request.url ?? '')?.[1];
  if (id === undefined) return undefined;
  const { headers } = request;
  const length = Number(headers['content-length']);
  if (!(length > 0 && length <= options.bodyLimitBytes) || headers['transfer-encoding'] !== undefined) return undefined;
  if (!JSON_CONTENT_TYPE.test(headers['content-type'] ?? '')) return undefined;
  if (options.needsFullAuthentication(request)) return undefined;
  // The usual way refuses it, and counts that refusal once.
  if (options.lockout.isLockedOut(request.socket.remoteAddress)) return undefined;
  const credential = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '')?.[1]?.trim();
  return credential ? options.registry.authenticate(id, credential) : undefined;
}

function serve(node: RegisteredNode, request: IncomingMessage, response: ServerResponse, options: HeartbeatLaneOptions): void {
  const started = process.hrtime.bigint();
  const context: RequestContext = { traceId: traceIdFrom(request.headers.traceparent as string | undefined) };
  response.once('close', () => {
    if (!response.writableFinished) return;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    options.metrics.httpRequestDuration.labels('POST', ROUTE, String(response.statusCode)).observe(seconds);
    options.logger.debug({ method: 'POST', route: ROUTE, code: response.statusCode, seconds }, 'request served');
  });
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('error', () => response.destroy());
  request.on('end', () => {
    runWithContext(context, () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (error) {
        answer(response, failureStatus(400, 'BadRequest', `the request body could not be parsed: ${(error as Error).message}`));
        return;
      }
      // As the guard names a node (auth.guard.ts), so log lines read the same either way.
      context.principal = `${node.role}/${node.namespace}/${node.name}`;
      options.heartbeat(node.id, body).then(
        (result) => answer(response, result, 200),
        (error: unknown) => {
          if (error instanceof ApiError) return answer(response, error.status);
          options.logger.error({ err: error }, 'unexpected error while serving a request');
          answer(response, failureStatus(500, 'InternalError', 'an internal error occurred; the control plane log has the details under this request\'s traceId'));
        },
      );
    });
  });
}

function answer(response: ServerResponse, body: HeartbeatResponse | Status, code = (body as Status).code): void {
  const json = JSON.stringify(body);
  response.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
  response.end(json);
}
