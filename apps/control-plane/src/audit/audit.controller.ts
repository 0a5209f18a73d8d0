/**
 * `GET /v1/audit` (admin): the audit log, newest first, a page at a time. The query parameters are
 * parsed once; a bad one is a 400 Status naming it.
 */
import { Controller, Get, Inject, Query } from '@nestjs/common';
import { Access } from '../auth/roles';
import { invalidParameter, refuseUnknownParameters, singleParameter, timeParameter, type RawQuery } from '../errors/query-parameters';
import { AUDIT_LOG, AuditQueryError, DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT, type AuditEntry, type AuditLog, type AuditQuery } from './audit-log';

const PARAMETERS = ['actor', 'action', 'kind', 'namespace', 'name', 'since', 'limit', 'continue'] as const;

export interface AuditEntryList {
  apiVersion: 'v1';
  kind: 'AuditEntryList';
  /** `continue`: pass it back for the next (older) page; absent on the last page. */
  metadata: { continue?: string };
  items: AuditEntry[];
}

export function parseAuditQuery(raw: RawQuery): AuditQuery {
  refuseUnknownParameters(raw, PARAMETERS);
  const since = singleParameter(raw, 'since');
  if (since !== undefined) timeParameter('since', since);
  const rawLimit = singleParameter(raw, 'limit');
  const limit = rawLimit === undefined ? DEFAULT_AUDIT_LIMIT : Number(rawLimit);
  if (!/^\d+$/.test(rawLimit ?? '1') || limit < 1 || limit > MAX_AUDIT_LIMIT) throw invalidParameter('limit', `"${rawLimit}" is not a whole number from 1 to ${MAX_AUDIT_LIMIT}`);
  const query: AuditQuery = { limit };
  for (const filter of ['actor', 'action', 'kind', 'namespace', 'name', 'continue'] as const) {
    const value = singleParameter(raw, filter);
    if (value !== undefined) query[filter] = value;
  }
  if (since !== undefined) query.since = since.toUpperCase();
  return query;
}

@Controller('v1')
export class AuditController {
  constructor(@Inject(AUDIT_LOG) private readonly log: AuditLog) {}

  @Get('audit')
  @Access('admin')
  async list(@Query() raw: RawQuery): Promise<AuditEntryList> {
    try {
      const page = await this.log.list(parseAuditQuery(raw));
      return { apiVersion: 'v1', kind: 'AuditEntryList', metadata: page.continue ? { continue: page.continue } : {}, items: page.items };
    } catch (error) {
      throw error instanceof AuditQueryError ? invalidParameter(error.parameter, error.reason) : error;
    }
  }
}
