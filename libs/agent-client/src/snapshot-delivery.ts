/**
 * Hands snapshots to the gateway one at a time, in the order they arrived, whichever transport
 * brought them, and turns each answer into the ACK/NACK to send back.
 *
 * A snapshot whose version is the last one handled is not handed over again (every WebSocket
 * reconnect starts with the current snapshot, usually the one already running); its previous
 * answer is returned instead, so the control plane still hears an ACK for it, e.g. after it
 * restarted and forgot.
 */
import type { AgentEventListener } from './events.js';
import type { HeldSnapshot } from './http-transport.js';
import type { AckRequest, NackError, Snapshot } from './protocol.js';

export type SnapshotResult = { status: 'ACK' } | { status: 'NACK'; errors: NackError[] };

/** Applies a snapshot; NACK (not throw) when parts of it could not be applied. */
export type SnapshotHandler = (snapshot: Snapshot) => SnapshotResult | Promise<SnapshotResult>;

export function isSnapshot(value: unknown): value is Snapshot {
  const snapshot = value as Partial<Snapshot> | null;
  return (
    typeof snapshot === 'object' &&
    snapshot !== null &&
    typeof snapshot.version === 'string' &&
    typeof snapshot.revision === 'number' &&
    Array.isArray(snapshot.routes)
  );
}

export class SnapshotDelivery {
  private queue: Promise<unknown> = Promise.resolve();
  private lastAnswer: AckRequest | undefined;
  private lastApplied: HeldSnapshot | undefined;
  private closed = false;

  constructor(
    private readonly handler: SnapshotHandler,
    private readonly emit: AgentEventListener,
  ) {}

  /** The last snapshot the handler returned for (ACK or NACK: either way it is what runs). */
  get applied(): HeldSnapshot | undefined {
    return this.lastApplied;
  }

  /** The last snapshot handled, applied or not: what the agent asks the control plane to differ from. */
  get held(): HeldSnapshot | undefined {
    return this.lastAnswer && { version: this.lastAnswer.version, revision: this.lastAnswer.revision };
  }

  /**
   * Queues `snapshot` behind the ones already offered. Resolves with the ACK/NACK to send, or
   * undefined when the delivery was closed or `signal` aborted first (the handler may still be
   * running then; it is never interrupted).
   */
  offer(snapshot: Snapshot, signal?: AbortSignal): Promise<AckRequest | undefined> {
    const answer = this.queue.then(() => this.handle(snapshot));
    this.queue = answer.catch(() => undefined);
    if (!signal) return answer;
    return new Promise((resolve, reject) => {
      const onAbort = () => resolve(undefined);
      signal.addEventListener('abort', onAbort, { once: true });
      answer.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** Snapshots still queued are dropped; the one being applied finishes. */
  close(): void {
    this.closed = true;
  }

  private async handle(snapshot: Snapshot): Promise<AckRequest | undefined> {
    if (this.closed) return undefined;
    if (this.lastAnswer?.version === snapshot.version) return this.lastAnswer;
    const { version, revision } = snapshot;
    let result: SnapshotResult;
    try {
      result = await this.handler(snapshot);
    } catch (thrown) {
      const error = thrown instanceof Error ? thrown : new Error(String(thrown));
      this.lastAnswer = {
        version,
        revision,
        status: 'NACK',
        errors: [{ resource: `Snapshot/${version}`, message: `the gateway failed to apply the snapshot: ${error.message}` }],
      };
      this.emit({ type: 'snapshot-failed', version, revision, error });
      return this.lastAnswer;
    }
    const ack: AckRequest = result.status === 'NACK' ? { version, revision, status: 'NACK', errors: result.errors } : { version, revision, status: 'ACK' };
    this.lastApplied = { version, revision };
    this.lastAnswer = ack;
    this.emit({ type: 'snapshot-applied', version, revision, status: ack.status });
    return ack;
  }
}
