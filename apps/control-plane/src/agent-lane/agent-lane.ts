/**
 * The agent lane: the agent protocol's frequent POSTs — `POST /agent/v1/nodes/{id}/heartbeat` and
 * `POST /agent/v1/nodes/{id}/acks` — answered beside Express and Nest.
 *
 * Heartbeats are the control plane's most frequent request: every gateway and instance sends one
 * per heartbeat interval (500 a second for 1,000 gateways at the default 2 s), and every long-poll
 * gateway POSTs an ACK for every snapshot. Through Express's router, body parsers and middleware
 * and Nest's guard, pipes and exception filter, one heartbeat cost about 1.3 ms of CPU on the
 * benchmark machine, so about 700 a second filled a core and delayed every other request,
 * snapshot pushes included (docs/benchmarks.md, "Making it fast").
 *
 * The lane takes only a request its headers say will be accepted: a JSON body within the API's
 * limit, a node credential that authenticates, a source address not locked out, no identity
 * headers of a Kubernetes front proxy, and no client-certificate gate for agents. It runs the same
 * controller method as the routed request and answers what Nest would, with the same request
 * metric, trace id and log line. Everything else — refusals, lockout counting, odd bodies, mTLS —
 * goes the usual way through Express, so those rules live in one place.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { failureStatus, type Status } from '@portolan/api';
import { AGENT_API_PREFIX } from '@portolan/agent-client';
import type { Logger } from 'pino';
import type { AuthLockout } from '../auth/auth-lockout';
import { ApiError } from '../errors/api-error';
import type { NodeRegistry, RegisteredNode } from '../registry/node-registry';
import type { MetricsRegistry } from '../telemetry/metrics';
import { runWithContext, traceIdFrom, type RequestContext } from '../telemetry/request-context';

/** The POSTs the lane serves, by the last segment of their path. */
export type LaneAction = 'heartbeat' | 'acks';

const NODE_ACTION = new RegExp(`^${AGENT_API_PREFIX.replaceAll('/', '\\/')}\\/nodes\\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\\/(heartbeat|acks)$`);
const JSON_CONTENT_TYPE = /^application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

export interface AgentLaneOptions {
  registry: Pick<NodeRegistry, 'authenticate'>;
  lockout: Pick<AuthLockout, 'isLockedOut'>;
  /**
   * The controller methods: each takes the node id and the JSON body, and returns the answer (sent
   * as JSON, 200) or nothing (204); a refusal is thrown as an ApiError.
   */
  handlers: Record<LaneAction, (id: string, body: unknown) => unknown>;
  metrics: Pick<MetricsRegistry, 'httpRequestDuration'>;
  logger: Pick<Logger, 'debug' | 'error'>;
  /** The API's body limit in bytes; larger bodies go the usual way (and are refused there). */
  bodyLimitBytes: number;
  /** Whether a request must go the usual way for who it is: front-proxy identity headers, client certificates. */
  needsFullAuthentication: (request: IncomingMessage) => boolean;
}

interface LaneRequest {
  node: RegisteredNode;
  action: LaneAction;
}

/** Puts the lane in front of the server's request handler (Express); call once the server exists. */
export function attachAgentLane(server: Server, options: AgentLaneOptions): void {
  const routed = server.listeners('request') as Array<(request: IncomingMessage, response: ServerResponse) => void>;
  if (routed.length !== 1) throw new Error(`the agent lane expects one request handler on the API server, found ${routed.length}`);
  const [usualWay] = routed;
  server.removeAllListeners('request');
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const taken = laneFor(request, options);
    if (taken === undefined) usualWay(request, response);
    else serve(taken, request, response, options);
  });
}

/** The node and action when the lane takes the request, else undefined. */
function laneFor(request: IncomingMessage, options: AgentLaneOptions): LaneRequest | undefined {
  if (request.method !== 'POST') return undefined;
  const matched = NODE_ACTION.exec(request.url ?? '');
  if (matched === null) return undefined;
  const { headers } = request;
  const length = Number(headers['content-length']);
  if (!(length > 0 && length <= options.bodyLimitBytes) || headers['transfer-encoding'] !== undefined) return undefined;
  if (!JSON_CONTENT_TYPE.test(headers['content-type'] ?? '')) return undefined;
  if (options.needsFullAuthentication(request)) return undefined;
  // The usual way refuses it, and counts that refusal once.
  if (options.lockout.isLockedOut(request.socket.remoteAddress)) return undefined;
  const credential = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '')?.[1]?.trim();
  const node = credential ? options.registry.authenticate(matched[1], credential) : undefined;
  return node && { node, action: matched[2] as LaneAction };
}

function serve({ node, action }: LaneRequest, request: IncomingMessage, response: ServerResponse, options: AgentLaneOptions): void {
  const started = process.hrtime.bigint();
  const route = `${AGENT_API_PREFIX}/nodes/:id/${action}`;
  const context: RequestContext = { traceId: traceIdFrom(request.headers.traceparent as string | undefined) };
  response.once('close', () => {
    if (!response.writableFinished) return;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    options.metrics.httpRequestDuration.labels('POST', route, String(response.statusCode)).observe(seconds);
    options.logger.debug({ method: 'POST', route, code: response.statusCode, seconds }, 'request served');
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
      new Promise((resolve) => resolve(options.handlers[action](node.id, body))).then(
        (result) => (result === undefined ? answer(response, undefined, 204) : answer(response, result, 200)),
        (error: unknown) => {
          if (error instanceof ApiError) return answer(response, error.status);
          options.logger.error({ err: error }, 'unexpected error while serving a request');
          answer(response, failureStatus(500, 'InternalError', 'an internal error occurred; the control plane log has the details under this request\'s traceId'));
        },
      );
    });
  });
}

function answer(response: ServerResponse, body: unknown, code = (body as Status).code): void {
  if (body === undefined) {
    response.writeHead(code).end();
    return;
  }
  const json = JSON.stringify(body);
  response.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
  response.end(json);
}
