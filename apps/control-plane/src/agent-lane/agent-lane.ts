/**
 * The agent lane: the agent protocol's frequent requests — `POST /agent/v1/nodes/{id}/heartbeat`,
 * `POST /agent/v1/nodes/{id}/acks` and the long-poll `GET /agent/v1/nodes/{id}/snapshot` —
 * answered beside Express and Nest.
 *
 * Heartbeats are the control plane's most frequent request: every gateway and instance sends one
 * per heartbeat interval (500 a second for 1,000 gateways at the default 2 s), every long-poll
 * gateway POSTs an ACK for every snapshot and polls again. Through Express's router, body parsers
 * and middleware and Nest's guard, pipes and exception filter, one such request cost about 1.3 ms
 * of CPU on the benchmark machine, so about 700 a second filled a core and delayed every other
 * request, snapshot pushes included (docs/benchmarks.md, "Making it fast").
 *
 * The lane takes only a request its headers say will be accepted: a JSON body within the API's
 * limit (a poll: no body, and no query but `revision` and `wait`, well formed), a node credential
 * that authenticates, a source address not locked out, no identity headers of a Kubernetes front
 * proxy, and no client-certificate gate for agents. It runs the same code as the routed request
 * and answers what Nest would, with the same request metric, trace id and log line. Everything
 * else — refusals, lockout counting, odd bodies and queries, mTLS — goes the usual way through
 * Express, so those rules live in one place.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { failureStatus, type Status } from '@portolan/api';
import { AGENT_API_PREFIX } from '@portolan/agent-client';
import type { Logger } from 'pino';
import type { AuthLockout } from '../auth/auth-lockout';
import { ApiError } from '../errors/api-error';
import type { NodeRegistry, RegisteredNode } from '../registry/node-registry';
import { readLongPoll, type LongPoll } from '../distribution/long-poll';
import type { MetricsRegistry } from '../telemetry/metrics';
import { runWithContext, traceIdFrom, type RequestContext } from '../telemetry/request-context';

/** The POSTs the lane serves, by the last segment of their path. */
export type LaneAction = 'heartbeat' | 'acks';

const NODE_ACTION = new RegExp(`^${AGENT_API_PREFIX.replaceAll('/', '\\/')}\\/nodes\\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\\/(heartbeat|acks|snapshot)$`);
const POLL_PARAMETERS = new Set(['revision', 'wait']);
const JSON_CONTENT_TYPE = /^application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

export interface AgentLaneOptions {
  registry: Pick<NodeRegistry, 'authenticate'>;
  lockout: Pick<AuthLockout, 'isLockedOut'>;
  /**
   * The controller methods: each takes the node id and the JSON body, and returns the answer (sent
   * as JSON, 200) or nothing (204); a refusal is thrown as an ApiError.
   */
  handlers: Record<LaneAction, (id: string, body: unknown) => unknown>;
  /** Answers a poll on the response (long-poll.ts), at once or when a snapshot comes or the wait ends. */
  answerPoll: (id: string, poll: LongPoll, response: ServerResponse) => Promise<void>;
  metrics: Pick<MetricsRegistry, 'httpRequestDuration'>;
  logger: Pick<Logger, 'debug' | 'error'>;
  /** The API's body limit in bytes; larger bodies go the usual way (and are refused there). */
  bodyLimitBytes: number;
  /** Whether a request must go the usual way for who it is: front-proxy identity headers, client certificates. */
  needsFullAuthentication: (request: IncomingMessage) => boolean;
}

type LaneRequest = { node: RegisteredNode } & ({ action: LaneAction } | { action: 'snapshot'; poll: LongPoll });

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
  const url = request.url ?? '';
  const queryAt = url.indexOf('?');
  const matched = NODE_ACTION.exec(queryAt === -1 ? url : url.slice(0, queryAt));
  if (matched === null) return undefined;
  const { headers } = request;
  let poll: LongPoll | undefined;
  if (matched[2] === 'snapshot') {
    if (request.method !== 'GET' || headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) !== 0) return undefined;
    poll = pollOf(queryAt === -1 ? '' : url.slice(queryAt + 1), headers['if-none-match']);
    if (poll === undefined) return undefined;
  } else {
    if (request.method !== 'POST' || queryAt !== -1) return undefined;
    const length = Number(headers['content-length']);
    if (!(length > 0 && length <= options.bodyLimitBytes) || headers['transfer-encoding'] !== undefined) return undefined;
    if (!JSON_CONTENT_TYPE.test(headers['content-type'] ?? '')) return undefined;
  }
  if (options.needsFullAuthentication(request)) return undefined;
  // The usual way refuses it, and counts that refusal once.
  if (options.lockout.isLockedOut(request.socket.remoteAddress)) return undefined;
  const credential = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '')?.[1]?.trim();
  const node = credential ? options.registry.authenticate(matched[1], credential) : undefined;
  if (!node) return undefined;
  return poll ? { node, action: 'snapshot', poll } : { node, action: matched[2] as LaneAction };
}

/** A poll whose query holds `revision` and `wait` at most once each, well formed; else undefined. */
function pollOf(query: string, ifNoneMatch: string | undefined): LongPoll | undefined {
  const parameters = new URLSearchParams(query);
  const seen = new Set<string>();
  for (const name of parameters.keys()) {
    if (!POLL_PARAMETERS.has(name) || seen.has(name)) return undefined;
    seen.add(name);
  }
  try {
    return readLongPoll(parameters.get('revision') ?? undefined, parameters.get('wait') ?? undefined, ifNoneMatch);
  } catch {
    return undefined;
  }
}

function serve(taken: LaneRequest, request: IncomingMessage, response: ServerResponse, options: AgentLaneOptions): void {
  const { node, action } = taken;
  const started = process.hrtime.bigint();
  const method = request.method!;
  const route = `${AGENT_API_PREFIX}/nodes/:id/${action}`;
  const context: RequestContext = { traceId: traceIdFrom(request.headers.traceparent as string | undefined) };
  // As the guard names a node (auth.guard.ts), so log lines read the same either way.
  context.principal = `${node.role}/${node.namespace}/${node.name}`;
  response.once('close', () => {
    if (!response.writableFinished) return;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    options.metrics.httpRequestDuration.labels(method, route, String(response.statusCode)).observe(seconds);
    options.logger.debug({ method, route, code: response.statusCode, seconds }, 'request served');
  });
  if ('poll' in taken) {
    runWithContext(context, () => {
      options.answerPoll(node.id, taken.poll, response).catch((error: unknown) => failed(error, response, options));
    });
    return;
  }
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
      new Promise((resolve) => resolve(options.handlers[taken.action as LaneAction](node.id, body))).then(
        (result) => (result === undefined ? answer(response, undefined, 204) : answer(response, result, 200)),
        (error: unknown) => failed(error, response, options),
      );
    });
  });
}

function failed(error: unknown, response: ServerResponse, options: AgentLaneOptions): void {
  if (error instanceof ApiError) return answer(response, error.status);
  options.logger.error({ err: error }, 'unexpected error while serving a request');
  if (response.headersSent) return void response.destroy();
  answer(response, failureStatus(500, 'InternalError', 'an internal error occurred; the control plane log has the details under this request\'s traceId'));
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
