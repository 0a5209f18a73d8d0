/**
 * Config sync over the WebSocket stream: connect, hand each pushed snapshot to the delivery queue,
 * answer it with an ACK frame, and reconnect with capped exponential backoff and full jitter when
 * the connection fails or drops. The backoff resets once a connection has stayed up.
 */
import { backoffDelay } from './backoff.js';
import { AgentClientError } from './errors.js';
import { pause } from './pause.js';
import { openStream, streamUrl, type StreamConnection } from './stream.js';
import type { SyncContext } from './sync-context.js';

export interface WebSocketSyncOptions {
  /** Give up (return the error) after this many consecutive failed attempts, or at once when the upgrade is refused. */
  fallbackAfterFailures?: number;
  /** A connection already open (a successful probe from long-poll mode). */
  connection?: StreamConnection;
}

/**
 * Whether a refused upgrade means "WebSocket does not get through here" (a proxy that strips
 * upgrades turns the request into a plain GET, which fails) rather than "this node may not
 * connect", which long-poll would not fix either.
 */
function upgradeBlocked(error: AgentClientError): boolean {
  return error.code === 'PORTOLAN_AGENT_UPGRADE_REFUSED' && error.statusCode !== 401 && error.statusCode !== 403;
}

export function connectStream(context: SyncContext, signal: AbortSignal, onOpen?: () => void): Promise<StreamConnection> {
  const { settings, session, delivery, emit } = context;
  return openStream(
    {
      url: streamUrl(context.controlPlaneUrl, session.id),
      credential: session.credential,
      caPem: context.caPem,
      clientCertificate: context.clientCertificate,
      pingIntervalMs: settings.pingIntervalMs,
      handshakeTimeoutMs: settings.handshakeTimeoutMs,
      onOpen,
      onMessage: ({ snapshot }, connection) => {
        void delivery.offer(snapshot, signal).then((ack) => {
          if (ack) connection.sendAck(ack);
        });
      },
      onInvalidMessage: (error) => emit({ type: 'invalid-message', transport: 'websocket', error }),
    },
    signal,
  );
}

/** Runs until `signal` aborts (returns undefined) or, with fallbackAfterFailures, gives up (returns why). */
export async function runWebSocketSync(context: SyncContext, signal: AbortSignal, options: WebSocketSyncOptions = {}): Promise<AgentClientError | undefined> {
  const { settings, emit } = context;
  let connection = options.connection;
  let attempt = 0;
  let failedConnects = 0;
  while (!signal.aborted) {
    if (!connection) {
      emit({ type: 'connecting', transport: 'websocket' });
      try {
        connection = await connectStream(context, signal);
      } catch (error) {
        if (signal.aborted) break;
        if (!(error instanceof AgentClientError)) throw error;
        failedConnects++;
        const limit = options.fallbackAfterFailures;
        if (limit !== undefined && (failedConnects >= limit || upgradeBlocked(error))) return error;
        const retryInMs = backoffDelay(attempt++, settings.reconnectBaseMs, settings.reconnectMaxMs, settings.random);
        emit({ type: 'disconnected', transport: 'websocket', error, retryInMs });
        await pause(retryInMs, signal);
        continue;
      }
    }
    failedConnects = 0;
    emit({ type: 'connected', transport: 'websocket' });
    const openedAt = performance.now();
    const closedBecause = await connection.closed;
    connection = undefined;
    if (signal.aborted) break;
    if (performance.now() - openedAt >= settings.stableAfterMs) attempt = 0;
    const retryInMs = backoffDelay(attempt++, settings.reconnectBaseMs, settings.reconnectMaxMs, settings.random);
    emit({ type: 'disconnected', transport: 'websocket', error: closedBecause, retryInMs });
    await pause(retryInMs, signal);
  }
  return undefined;
}
