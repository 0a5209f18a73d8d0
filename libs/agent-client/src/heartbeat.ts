/**
 * Heartbeats of one registration: every interval (the control plane's, ±10% so gateways started
 * together do not beat in lockstep), POST what the gateway runs and its traffic counters. A failed
 * heartbeat is reported and the next one sent on schedule: the gateway keeps serving (fail static)
 * and the control plane marks it Offline on its own if the silence lasts. A 404 means the node was
 * removed, which only registering again repairs.
 */
import { AgentClientError } from './errors.js';
import type { AgentEventListener } from './events.js';
import type { HttpTransport, NodeSession } from './http-transport.js';
import { pause } from './pause.js';
import type { HeartbeatRequest, Lifecycle, TapRequest } from './protocol.js';

const JITTER = 0.1;

/** `intervalMs` ± `spread` (a fraction of it). */
export function jittered(intervalMs: number, spread: number, random: () => number): number {
  return Math.round(intervalMs * (1 - spread + 2 * spread * random()));
}

export interface HeartbeatContext {
  http: HttpTransport;
  session: NodeSession;
  intervalMs: number;
  random: () => number;
  /** Called just before each heartbeat; its counters cover the period since the previous call. */
  heartbeat: () => HeartbeatRequest;
  emit: AgentEventListener;
  nodeGone: () => void;
  /** Called with every heartbeat answer that carries a tap. */
  onTap?: (tap: TapRequest) => void;
}

export async function runHeartbeats(context: HeartbeatContext, signal: AbortSignal): Promise<void> {
  const { http, session, emit } = context;
  let intervalMs = context.intervalMs;
  let lifecycle: Lifecycle | undefined;
  let consecutiveFailures = 0;
  while (await pause(jittered(intervalMs, JITTER, context.random), signal)) {
    try {
      const answer = await http.heartbeat(session, context.heartbeat(), signal);
      consecutiveFailures = 0;
      if (answer.heartbeatIntervalMs > 0) intervalMs = answer.heartbeatIntervalMs;
      if (answer.tap && answer.tap.remainingMs > 0) startTap(context, answer.tap);
      if (answer.lifecycle !== lifecycle) {
        lifecycle = answer.lifecycle;
        emit({ type: 'lifecycle', lifecycle });
      }
    } catch (error) {
      if (signal.aborted) return;
      if (!(error instanceof AgentClientError)) throw error;
      if (error.code === 'PORTOLAN_AGENT_NOT_FOUND') return context.nodeGone();
      emit({ type: 'heartbeat-failed', error, consecutiveFailures: ++consecutiveFailures });
    }
  }
}

/** A tap is the operator's view; whatever its handler does, heartbeats (the node's liveness) go on. */
function startTap(context: HeartbeatContext, tap: TapRequest): void {
  try {
    context.onTap?.(tap);
  } catch (error) {
    context.emit({ type: 'tap-failed', error: error as Error });
  }
}
