/**
 * An ACK or NACK as a gateway sends it, over HTTP (POST …/acks) or its WebSocket: read in one
 * place, so a malformed one is refused the same way on both. A NACK keeps its first
 * MAX_NACK_ERRORS errors, each message cut at MAX_NACK_MESSAGE_CHARS: a snapshot with hundreds of
 * broken routes says so in its first errors, and every gateway's answers must fit in the records
 * replicas share through Consul (ack-ledger.ts), whose transactions are limited to 512 KiB.
 */
import { isJsonObject } from '@portolan/api';
import type { AckRequest, NackError } from '@portolan/agent-client';

export const MAX_NACK_ERRORS = 20;
export const MAX_NACK_MESSAGE_CHARS = 1_000;

const SHAPE = 'an ACK is {"version": string, "revision": number, "status": "ACK" | "NACK", "errors"?: [{"resource": string, "field"?: string, "message": string}]}: see docs/agent-protocol.md';

export class InvalidAckError extends Error {
  readonly code = 'PORTOLAN_INVALID_ACK';
}

const cut = (text: string) => (text.length > MAX_NACK_MESSAGE_CHARS ? `${text.slice(0, MAX_NACK_MESSAGE_CHARS)}…` : text);

export function readAckRequest(body: unknown): AckRequest {
  if (!isJsonObject(body) || typeof body.version !== 'string' || typeof body.revision !== 'number' || (body.status !== 'ACK' && body.status !== 'NACK')) {
    throw new InvalidAckError(SHAPE);
  }
  if (body.errors !== undefined && !Array.isArray(body.errors)) throw new InvalidAckError(`errors: must be a list; ${SHAPE}`);
  const errors = ((body.errors ?? []) as unknown[]).slice(0, MAX_NACK_ERRORS).map((error, index): NackError => {
    if (!isJsonObject(error) || typeof error.resource !== 'string' || typeof error.message !== 'string' || (error.field !== undefined && typeof error.field !== 'string')) {
      throw new InvalidAckError(`errors[${index}]: must be {"resource": string, "field"?: string, "message": string}`);
    }
    return { resource: cut(error.resource), ...(error.field !== undefined ? { field: cut(error.field) } : {}), message: cut(error.message) };
  });
  return { version: body.version, revision: body.revision, status: body.status, ...(body.errors !== undefined ? { errors } : {}) };
}
