/**
 * What a handler tells the audit log that its answer does not say (a revoked token's name and
 * role: the answer is a bare Status, and the token is gone once it is sent). Kept per request
 * object, so nothing outlives the request.
 */
import type { AuditNotes } from './audited-writes';

const notes = new WeakMap<object, AuditNotes>();

export function noteForAudit(request: object, note: AuditNotes): void {
  notes.set(request, { ...notes.get(request), ...note });
}

export function auditNotesOf(request: object): AuditNotes {
  return notes.get(request) ?? {};
}
