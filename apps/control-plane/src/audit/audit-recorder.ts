/**
 * Hands entries to the audit log without holding up the answer's way out, and makes every entry a
 * structured log line too (component `audit`), for log shippers. An entry the log cannot store does
 * not fail the request it describes (that write is already committed): it is logged as an error
 * with the whole entry and counted in `portolan_audit_write_failures_total`.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { MetricsRegistry } from '../telemetry/metrics';
import { AUDIT_LOG, type AuditEntry, type AuditLog, type NewAuditEntry } from './audit-log';

function summary(entry: NewAuditEntry): string {
  const { kind, namespace, name } = entry.object;
  const object = [kind, [namespace, name].filter(Boolean).join('/')].filter(Boolean).join(' ');
  return `${entry.actor ?? '(not authenticated)'} ${entry.action} ${object}: ${entry.outcome.code}`;
}

@Injectable()
export class AuditRecorder {
  private readonly logger = new Logger('audit');

  constructor(
    @Inject(AUDIT_LOG) private readonly log: AuditLog,
    private readonly metrics: MetricsRegistry,
  ) {}

  /** Starts storing the entry (the embedded log has stored it when this returns) and settles with the stored entry, or undefined when it could not be stored. */
  record(input: NewAuditEntry): Promise<AuditEntry | undefined> {
    return this.log.record(input).then(
      (entry) => {
        this.logger.log({ msg: summary(entry), audit: entry });
        return entry;
      },
      (error: Error) => {
        this.metrics.auditWriteFailures.inc();
        this.logger.error({ msg: `audit entry not stored: ${summary(input)}: ${error.message}`, audit: input });
        return undefined;
      },
    );
  }

  /** A request the audit log could not even describe: lost like an entry it could not store. */
  notDescribed(method: string, path: string, error: Error): void {
    this.metrics.auditWriteFailures.inc();
    this.logger.error({ msg: `audit entry not made for ${method} ${path}: ${error.message}`, stack: error.stack });
  }
}
