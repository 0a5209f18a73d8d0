/**
 * Where gateways' ACKs and NACKs are shared between control-plane replicas. A gateway answers only
 * the replica it is connected to, but policy status (`Synced`, rollout counts) and drains are asked
 * of any replica, so every replica must know every gateway's answer.
 *
 * Embedded: one process, nothing to share. Consul: one KV key per gateway under `<prefix>/acks/`,
 * written when the gateway answers and watched by every replica with a blocking query. A write that
 * fails while Consul is down is kept (latest answer per gateway) and written when it returns.
 */
import { Logger } from '@nestjs/common';
import type { NackError } from '@portolan/agent-client';
import { TXN_MAX_OPS, type ConsulClient, type KvEntry, type TxnOperation } from '../consul/consul-client';
import { follow } from '../consul/follow';

export interface GatewayAnswers {
  applied?: { version: string; revision: number; at: string };
  lastNack?: { version: string; revision: number; time: string; errors: NackError[] };
  /** Whether the gateway has a stream or a pending long-poll on the replica that wrote this. */
  listening?: boolean;
}

export interface AckLedger {
  /** Shares this gateway's latest answers with the other replicas. */
  publish(gatewayId: string, answers: GatewayAnswers): void;
  /** Calls `listener` with answers other replicas published. */
  onRemote(listener: (gatewayId: string, answers: GatewayAnswers) => void): () => void;
  /** The gateway is gone; its record goes too. */
  forget(gatewayId: string): void;
  close(): Promise<void>;
}

export const ACK_LEDGER = Symbol('AckLedger');

/** One replica: answers stay in the DistributionService's own memory. */
export class LocalAckLedger implements AckLedger {
  publish(): void {}
  onRemote(): () => void {
    return () => undefined;
  }
  forget(): void {}
  async close(): Promise<void> {}
}

interface StoredAnswers extends GatewayAnswers {
  /** The replica that wrote it, so a replica skips its own records. */
  replica: string;
}

const FLUSH_RETRY_MS = 1_000;
/**
 * Consul refuses a transaction over txn_max_req_len (512 KiB by default) and sends values
 * base64-encoded (4/3): a batch's values stay under 360 KiB, leaving room for keys and JSON.
 */
const MAX_BATCH_VALUE_BYTES = 360 * 1024;

export class ConsulAckLedger implements AckLedger {
  private readonly logger = new Logger('ack-ledger');
  private readonly listeners = new Set<(gatewayId: string, answers: GatewayAnswers) => void>();
  private readonly pending = new Map<string, GatewayAnswers | null>();
  /** ModifyIndex of each record last seen, so only changed records are handed on. */
  private readonly seen = new Map<string, number>();
  private readonly stop = new AbortController();
  private flushing: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private readonly watching: Promise<void>;

  constructor(
    private readonly consul: ConsulClient,
    private readonly replica: string,
  ) {
    this.watching = this.watch();
  }

  publish(gatewayId: string, answers: GatewayAnswers): void {
    this.pending.set(gatewayId, answers);
    this.flush();
  }

  onRemote(listener: (gatewayId: string, answers: GatewayAnswers) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  forget(gatewayId: string): void {
    this.pending.set(gatewayId, null);
    this.flush();
  }

  async close(): Promise<void> {
    this.stop.abort();
    clearTimeout(this.retry);
    await Promise.all([this.watching, this.flushing]);
  }

  private get prefix(): string {
    return this.consul.key('acks') + '/';
  }

  /** Writes pending records, one flush at a time; on failure keeps them and tries again later. */
  private flush(): void {
    if (this.flushing || this.retry || this.pending.size === 0 || this.stop.signal.aborted) return;
    this.flushing = this.writePending().finally(() => {
      this.flushing = undefined;
      // Answers that arrived during the last write.
      this.flush();
    });
  }

  private async writePending(): Promise<void> {
    try {
      while (this.pending.size > 0 && !this.stop.signal.aborted) {
        const { batch, operations } = this.nextBatch();
        const result = await this.consul.txn(operations);
        if (!result.ok) throw new Error(`Consul refused the answers: ${result.errors.map((error) => error.What).join('; ')}`);
        // A newer answer may have arrived while writing; keep it for the next round.
        for (const [gatewayId, answers] of batch) if (this.pending.get(gatewayId) === answers) this.pending.delete(gatewayId);
      }
    } catch (error) {
      this.logger.warn(`cannot share gateway answers yet (${this.pending.size} waiting): ${(error as Error).message}`);
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.flush();
      }, FLUSH_RETRY_MS);
      this.retry.unref();
    }
  }

  /**
   * A rollout makes every gateway answer at once: up to 64 answers per transaction rather than a
   * write each, fewer when NACKs make them large. One record always fits: a NACK keeps at most
   * 32 KiB of errors and a version of at most 256 characters (ack-request.ts).
   */
  private nextBatch(): { batch: Array<[string, GatewayAnswers | null]>; operations: TxnOperation[] } {
    const batch: Array<[string, GatewayAnswers | null]> = [];
    const operations: TxnOperation[] = [];
    let bytes = 0;
    for (const [gatewayId, answers] of this.pending) {
      const value = answers ? JSON.stringify({ ...answers, replica: this.replica } satisfies StoredAnswers) : undefined;
      const operation: TxnOperation = value === undefined ? { Verb: 'delete', Key: this.prefix + gatewayId } : { Verb: 'set', Key: this.prefix + gatewayId, Value: value };
      const size = value === undefined ? 0 : Buffer.byteLength(value);
      if (operations.length === TXN_MAX_OPS || (operations.length > 0 && bytes + size > MAX_BATCH_VALUE_BYTES)) break;
      batch.push([gatewayId, answers]);
      operations.push(operation);
      bytes += size;
    }
    return { batch, operations };
  }

  private watch(): Promise<void> {
    return follow((blocking) => this.consul.kvList(this.prefix, blocking), (entries) => this.noteRecords(entries), { signal: this.stop.signal });
  }

  /** Hands on the records other replicas wrote since the last answer. */
  private noteRecords(entries: KvEntry[]): void {
    const present = new Set(entries.map((entry) => entry.Key));
    for (const key of this.seen.keys()) if (!present.has(key)) this.seen.delete(key);
    for (const entry of entries) {
      if (!entry.Value || this.seen.get(entry.Key) === entry.ModifyIndex) continue;
      this.seen.set(entry.Key, entry.ModifyIndex);
      const record = JSON.parse(entry.Value) as StoredAnswers;
      if (record.replica === this.replica) continue;
      const gatewayId = entry.Key.slice(this.prefix.length);
      for (const listener of this.listeners) listener(gatewayId, { applied: record.applied, lastNack: record.lastNack, listening: record.listening });
    }
  }
}
