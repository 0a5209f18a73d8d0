/**
 * One WebSocket connection to `GET /agent/v1/nodes/{id}/stream`. Reconnecting is the caller's
 * job (websocket-sync.ts); this file opens, keeps alive and reports how the connection ended.
 *
 * Keepalive: the control plane pings every period, and so does the client; anything heard from
 * the peer (a frame, a ping, a pong) proves it alive. A peer silent for two whole periods is
 * terminated, because a half-open TCP connection (a NAT that forgot us, a dead host) would
 * otherwise look connected forever while no snapshot can arrive.
 */
import WebSocket from 'ws';
import { tlsConnectOptions, type ClientCertificate } from './client-tls.js';
import { AgentClientError, abortedError, errorForStatus } from './errors.js';
import { PATHS, type AckRequest, type ServerMessage } from './protocol.js';
import { isSnapshot } from './snapshot-delivery.js';

/** Enough of a refusal's body for its Status message, without buffering whatever a proxy sends. */
const MAX_REFUSAL_BODY_BYTES = 16 * 1024;
/** RFC 6455 7.4.1: the endpoint is going away. */
const GOING_AWAY = 1001;
const CLOSE_HANDSHAKE_MS = 1_000;

export interface StreamOptions {
  url: URL;
  credential: string;
  caPem?: string;
  clientCertificate?: ClientCertificate;
  pingIntervalMs: number;
  handshakeTimeoutMs: number;
  onMessage: (message: ServerMessage, connection: StreamConnection) => void;
  onInvalidMessage: (error: AgentClientError) => void;
  /**
   * Called synchronously once the upgrade succeeded, before any frame is read: whoever must stop
   * listening elsewhere (a long-poll being replaced) does so before the first snapshot arrives.
   */
  onOpen?: () => void;
}

export class StreamConnection {
  /** Resolves, never rejects, with why the connection ended. */
  readonly closed: Promise<AgentClientError>;
  private lastHeardAt = performance.now();
  private silenceError: AgentClientError | undefined;

  constructor(
    private readonly socket: WebSocket,
    private readonly options: StreamOptions,
    signal: AbortSignal,
  ) {
    const heard = () => (this.lastHeardAt = performance.now());
    socket.on('ping', heard);
    socket.on('pong', heard);
    socket.on('message', (data, isBinary) => {
      heard();
      this.receive(data, isBinary);
    });
    const keepalive = setInterval(() => this.checkPeer(), options.pingIntervalMs);
    keepalive.unref();
    // A stopping agent says goodbye (1001), so the control plane does not take a lost stream for a
    // gateway that went away (it marks that one Offline at once); a peer that does not answer the
    // close within a second is cut off.
    const onAbort = () => {
      socket.close(GOING_AWAY, 'agent stopping');
      setTimeout(() => socket.terminate(), CLOSE_HANDSHAKE_MS).unref();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    this.closed = new Promise((resolve) => {
      let lastError: Error | undefined;
      socket.on('error', (error) => (lastError = error));
      socket.on('close', (code, reason) => {
        clearInterval(keepalive);
        signal.removeEventListener('abort', onAbort);
        if (this.silenceError) return resolve(this.silenceError);
        const why = lastError?.message ?? (reason.length > 0 ? `${code} ${reason.toString()}` : `code ${code}`);
        resolve(new AgentClientError('PORTOLAN_AGENT_STREAM_CLOSED', `the config stream closed: ${why}`, { cause: lastError }));
      });
    });
  }

  /** False when the socket is no longer open; the ACK is then lost, and re-sent on reconnect. */
  sendAck(ack: AckRequest): boolean {
    if (this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify({ type: 'ack', ack }));
    return true;
  }

  private checkPeer(): void {
    const silentMs = performance.now() - this.lastHeardAt;
    if (silentMs >= 2 * this.options.pingIntervalMs) {
      this.silenceError = new AgentClientError('PORTOLAN_AGENT_STREAM_CLOSED', `the control plane was silent for ${Math.round(silentMs)} ms; dropped the config stream`);
      this.socket.terminate();
      return;
    }
    this.socket.ping();
  }

  private receive(data: WebSocket.RawData, isBinary: boolean): void {
    let message: Partial<ServerMessage>;
    try {
      if (isBinary) throw new Error('binary frame');
      message = JSON.parse(data.toString()) as Partial<ServerMessage>;
    } catch (error) {
      this.options.onInvalidMessage(new AgentClientError('PORTOLAN_AGENT_INVALID_RESPONSE', `the config stream sent a frame that is not JSON text: ${(error as Error).message}`));
      return;
    }
    // Unknown message types are skipped, so a newer control plane can add some.
    if (message.type !== 'snapshot') return;
    if (!isSnapshot(message.snapshot)) {
      this.options.onInvalidMessage(new AgentClientError('PORTOLAN_AGENT_INVALID_RESPONSE', 'the config stream sent a snapshot without version, revision or routes'));
      return;
    }
    this.options.onMessage({ type: 'snapshot', snapshot: message.snapshot }, this);
  }
}

/** Resolves once the upgrade succeeded; rejects with why it did not. */
export function openStream(options: StreamOptions, signal: AbortSignal): Promise<StreamConnection> {
  const what = `GET ${options.url.pathname} (WebSocket)`;
  if (signal.aborted) return Promise.reject(abortedError(what, signal.reason));
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(options.url, {
      headers: { authorization: `Bearer ${options.credential}` },
      ...tlsConnectOptions(options),
      handshakeTimeout: options.handshakeTimeoutMs,
    });
    const onAbort = () => {
      reject(abortedError(what, signal.reason));
      socket.terminate();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const settle = () => signal.removeEventListener('abort', onAbort);
    socket.on('error', (error) => {
      settle();
      reject(new AgentClientError('PORTOLAN_AGENT_UNREACHABLE', `${what}: ${error.message}`, { cause: error }));
    });
    socket.on('unexpected-response', (_request, response) => {
      settle();
      const chunks: Buffer[] = [];
      let size = 0;
      const refuse = () => {
        const refusal = errorForStatus(what, response.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'));
        reject(new AgentClientError('PORTOLAN_AGENT_UPGRADE_REFUSED', refusal.message, { statusCode: refusal.statusCode, reason: refusal.reason }));
        socket.terminate();
      };
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= MAX_REFUSAL_BODY_BYTES) refuse();
      });
      response.on('error', () => undefined);
      response.on('close', refuse);
    });
    socket.on('open', () => {
      settle();
      options.onOpen?.();
      resolve(new StreamConnection(socket, options, signal));
    });
  });
}

/** `wss://` for an `https://` control plane (`ws://` for plain HTTP, in development). */
export function streamUrl(controlPlaneUrl: URL, nodeId: string): URL {
  const url = new URL(PATHS.stream(nodeId), controlPlaneUrl);
  url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  return url;
}
