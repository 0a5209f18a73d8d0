/**
 * The HTTP half of the agent protocol: one method per endpoint, over an undici Agent that trusts
 * the control plane's CA and presents the agent's certificate, when it has one. Non-success
 * answers become AgentClientErrors carrying the `Status` message; network failures and timeouts
 * become PORTOLAN_AGENT_UNREACHABLE.
 */
import { Agent, request } from 'undici';
import { formatDuration } from '@portolan/api';
import { tlsConnectOptions, type ClientCertificate } from './client-tls.js';
import { AgentClientError, abortedError, errorForStatus } from './errors.js';
import { isSnapshot } from './snapshot-delivery.js';
import {
  PATHS,
  type AckRequest,
  type DrainResponse,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type RegisterRequest,
  type RegisterResponse,
  type Snapshot,
  type TapBatch,
} from './protocol.js';

/** What every call after registration authenticates with. */
export interface NodeSession {
  id: string;
  credential: string;
}

/** The snapshot an agent holds, which a long-poll asks the control plane to differ from. */
export interface HeldSnapshot {
  version: string;
  revision: number;
}

export interface HttpTransportOptions {
  controlPlaneUrl: URL;
  /** PEM of the CA that signed the control plane's certificate; the system store when absent. */
  caPem?: string;
  /** Presented on every connection, for a control plane that verifies agents. */
  clientCertificate?: ClientCertificate;
  /** How long an ordinary call may take; a long-poll gets its wait on top. */
  requestTimeoutMs: number;
}

interface CallOptions {
  token: string;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Statuses besides 2xx that are answers rather than errors (304 for a long-poll). */
  accept?: number[];
}

interface Answer {
  statusCode: number;
  body: string;
}

export class HttpTransport {
  private readonly dispatcher: Agent;

  constructor(private readonly options: HttpTransportOptions) {
    this.dispatcher = new Agent({ connect: tlsConnectOptions(options) });
  }

  async register(bootstrapToken: string, registration: RegisterRequest, signal?: AbortSignal): Promise<RegisterResponse> {
    const answer = await this.call('POST', PATHS.register, { token: bootstrapToken, body: registration, signal });
    const response = parseJson<RegisterResponse>(answer, `POST ${PATHS.register}`);
    if (typeof response.id !== 'string' || typeof response.credential !== 'string' || !(response.heartbeatIntervalMs > 0)) {
      throw new AgentClientError('PORTOLAN_AGENT_INVALID_RESPONSE', `POST ${PATHS.register} answered without id, credential or heartbeatIntervalMs`);
    }
    return response;
  }

  async heartbeat(session: NodeSession, heartbeat: HeartbeatRequest, signal?: AbortSignal): Promise<HeartbeatResponse> {
    const path = PATHS.heartbeat(session.id);
    const answer = await this.call('POST', path, { token: session.credential, body: heartbeat, signal });
    return parseJson<HeartbeatResponse>(answer, `POST ${path}`);
  }

  /**
   * One long-poll: the control plane answers at once when its snapshot differs from `held`, else
   * holds the request for `waitMs` and answers 304 (undefined here) if nothing new was built.
   */
  async fetchSnapshot(session: NodeSession, held: HeldSnapshot | undefined, waitMs: number, signal?: AbortSignal): Promise<Snapshot | undefined> {
    const query = new URLSearchParams({ wait: formatDuration(waitMs) });
    if (held) query.set('revision', String(held.revision));
    const path = `${PATHS.snapshot(session.id)}?${query}`;
    const answer = await this.call('GET', path, {
      token: session.credential,
      headers: held ? { 'if-none-match': `"${held.version}"` } : {},
      signal,
      timeoutMs: waitMs + this.options.requestTimeoutMs,
      accept: [304],
    });
    if (answer.statusCode === 304) return undefined;
    return parseSnapshot(answer.body, `GET ${path}`);
  }

  async postAck(session: NodeSession, ack: AckRequest, signal?: AbortSignal): Promise<void> {
    await this.call('POST', PATHS.acks(session.id), { token: session.credential, body: ack, signal });
  }

  /** Resolves when the control plane has told the other gateways, or `waitMs` passed. */
  async drain(session: NodeSession, waitMs: number, signal?: AbortSignal): Promise<DrainResponse> {
    const path = `${PATHS.drain(session.id)}?wait=${formatDuration(waitMs)}`;
    const answer = await this.call('POST', path, { token: session.credential, signal, timeoutMs: waitMs + this.options.requestTimeoutMs });
    return parseJson<DrainResponse>(answer, `POST ${path}`);
  }

  async postTap(session: NodeSession, batch: TapBatch, signal?: AbortSignal): Promise<void> {
    await this.call('POST', PATHS.tap(session.id), { token: session.credential, body: batch, signal });
  }

  async deregister(session: NodeSession, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', PATHS.node(session.id), { token: session.credential, signal });
  }

  /** Closes every connection, failing calls still in flight. */
  async close(): Promise<void> {
    await this.dispatcher.destroy();
  }

  private async call(method: 'GET' | 'POST' | 'DELETE', path: string, options: CallOptions): Promise<Answer> {
    const what = `${method} ${path.split('?')[0]}`;
    if (options.signal?.aborted) throw abortedError(what, options.signal.reason);
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const headers: Record<string, string> = { authorization: `Bearer ${options.token}`, accept: 'application/json', ...options.headers };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    try {
      const response = await request(new URL(path, this.options.controlPlaneUrl), {
        dispatcher: this.dispatcher,
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
      });
      const body = await response.body.text();
      const answered = (response.statusCode >= 200 && response.statusCode < 300) || options.accept?.includes(response.statusCode);
      if (!answered) throw errorForStatus(what, response.statusCode, body);
      return { statusCode: response.statusCode, body };
    } catch (error) {
      if (error instanceof AgentClientError) throw error;
      if (options.signal?.aborted) throw abortedError(what, error);
      if (timeout.aborted) throw new AgentClientError('PORTOLAN_AGENT_UNREACHABLE', `${what}: no answer within ${timeoutMs} ms`, { cause: error });
      throw new AgentClientError('PORTOLAN_AGENT_UNREACHABLE', `${what}: ${describeNetworkError(error)}`, { cause: error });
    }
  }
}

function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `${error.message}${typeof code === 'string' && !error.message.includes(code) ? ` [${code}]` : ''}${cause}`;
}

function parseJson<T>(answer: Answer, what: string): T {
  try {
    return JSON.parse(answer.body) as T;
  } catch {
    throw new AgentClientError('PORTOLAN_AGENT_INVALID_RESPONSE', `${what} answered ${answer.statusCode} with a body that is not JSON`);
  }
}

function parseSnapshot(text: string, what: string): Snapshot {
  let snapshot: unknown;
  try {
    snapshot = JSON.parse(text);
  } catch {
    throw new AgentClientError('PORTOLAN_AGENT_INVALID_RESPONSE', `${what}: the snapshot is not JSON`);
  }
  if (!isSnapshot(snapshot)) throw new AgentClientError('PORTOLAN_AGENT_INVALID_RESPONSE', `${what}: the snapshot has no version, revision or routes`);
  return snapshot;
}
