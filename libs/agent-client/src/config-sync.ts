/**
 * Chooses the config transport. `websocket` and `long-poll` use that one only. `auto` (the
 * default) starts on WebSocket and falls back to long-poll when the upgrade is refused (a proxy
 * that strips upgrades) or several connection attempts in a row fail; while long-polling it tries
 * WebSocket again every `websocketRetryMs`, and switches back as soon as one connects.
 */
import { AgentClientError } from './errors.js';
import type { SyncTransport } from './events.js';
import { runLongPollSync } from './long-poll-sync.js';
import { pause } from './pause.js';
import type { StreamConnection } from './stream.js';
import type { SyncContext } from './sync-context.js';
import { connectStream, runWebSocketSync } from './websocket-sync.js';

export type TransportMode = SyncTransport | 'auto';

export async function runConfigSync(context: SyncContext, mode: TransportMode, signal: AbortSignal): Promise<void> {
  if (mode === 'long-poll') {
    context.emit({ type: 'transport-changed', transport: 'long-poll', reason: 'long-poll was chosen' });
    return runLongPollSync(context, signal);
  }
  context.emit({ type: 'transport-changed', transport: 'websocket', reason: mode === 'websocket' ? 'websocket was chosen' : 'WebSocket is the default transport' });
  if (mode === 'websocket') {
    await runWebSocketSync(context, signal);
    return;
  }
  let connection: StreamConnection | undefined;
  while (!signal.aborted) {
    const fallbackBecause = await runWebSocketSync(context, signal, {
      fallbackAfterFailures: context.settings.websocketFailuresBeforeFallback,
      connection,
    });
    if (!fallbackBecause) return;
    context.emit({ type: 'transport-changed', transport: 'long-poll', reason: fallbackBecause.message });
    connection = await longPollUntilWebSocketConnects(context, signal);
    if (connection) context.emit({ type: 'transport-changed', transport: 'websocket', reason: 'a WebSocket connected again' });
  }
}

/** Long-polls, probing WebSocket periodically; returns the probe's open connection, or undefined once stopped. */
async function longPollUntilWebSocketConnects(context: SyncContext, signal: AbortSignal): Promise<StreamConnection | undefined> {
  const longPoll = new AbortController();
  const stopLongPoll = () => longPoll.abort();
  signal.addEventListener('abort', stopLongPoll, { once: true });
  const polling = runLongPollSync(context, longPoll.signal);
  try {
    while (await pause(context.settings.websocketRetryMs, longPoll.signal)) {
      try {
        // Stopping the long-poll on open, before any frame is read, keeps snapshots in order.
        return await connectStream(context, signal, stopLongPoll);
      } catch (error) {
        if (!(error instanceof AgentClientError)) throw error;
        if (signal.aborted) return undefined;
        context.emit({ type: 'websocket-probe-failed', error });
      }
    }
    return undefined;
  } finally {
    stopLongPoll();
    signal.removeEventListener('abort', stopLongPoll);
    await polling;
  }
}
