/**
 * Config sync over HTTP long-poll, for agents whose WebSocket does not get through: ask for a
 * snapshot different from the one held (If-None-Match), hand it to the delivery queue, POST the
 * ACK/NACK, ask again. A 304 (the wait ended with nothing new) just asks again.
 *
 * The first poll of a run asks unconditionally, as a WebSocket connect gets the current snapshot:
 * after registering again or switching transport, the control plane hears an ACK for what this
 * node runs even when it is unchanged. An ACK that could not be sent is sent before the next poll,
 * so a short outage does not leave the control plane believing the gateway never applied it.
 */
import { backoffDelay } from './backoff.js';
import { AgentClientError, isTransient } from './errors.js';
import { pause } from './pause.js';
import type { AckRequest } from './protocol.js';
import type { SyncContext } from './sync-context.js';

/** Runs until `signal` aborts or the node turns out to be removed (then calls context.nodeGone). */
export async function runLongPollSync(context: SyncContext, signal: AbortSignal): Promise<void> {
  const { http, session, delivery, settings, emit } = context;
  let attempt = 0;
  let connected = false;
  let answered = false;
  let unsentAck: AckRequest | undefined;

  const sendAck = async (ack: AckRequest) => {
    unsentAck = ack;
    try {
      await http.postAck(session, ack, signal);
    } catch (error) {
      if (signal.aborted || !(error instanceof AgentClientError) || isTransient(error) || error.code === 'PORTOLAN_AGENT_NOT_FOUND') throw error;
      emit({ type: 'ack-failed', version: ack.version, revision: ack.revision, error });
    }
    unsentAck = undefined;
  };

  while (!signal.aborted) {
    try {
      if (unsentAck) await sendAck(unsentAck);
      const snapshot = await http.fetchSnapshot(session, answered ? delivery.held : undefined, settings.longPollWaitMs, signal);
      if (!connected) emit({ type: 'connected', transport: 'long-poll' });
      connected = true;
      answered = true;
      attempt = 0;
      // A WebSocket that replaced this loop may already have delivered something newer.
      if (!snapshot || signal.aborted) continue;
      const ack = await delivery.offer(snapshot, signal);
      if (ack) await sendAck(ack);
    } catch (error) {
      if (signal.aborted) break;
      if (!(error instanceof AgentClientError)) throw error;
      if (error.code === 'PORTOLAN_AGENT_NOT_FOUND') {
        context.nodeGone();
        break;
      }
      connected = false;
      const retryInMs = backoffDelay(attempt++, settings.reconnectBaseMs, settings.reconnectMaxMs, settings.random);
      emit({ type: 'disconnected', transport: 'long-poll', error, retryInMs });
      await pause(retryInMs, signal);
    }
  }
}
