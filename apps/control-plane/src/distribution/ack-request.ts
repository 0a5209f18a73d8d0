/**
 * An ACK or NACK as a gateway sends it, over HTTP (POST …/acks) or its WebSocket: read in one
 * place, so a malformed one is refused the same way on both. A NACK keeps its first
 * MAX_NACK_ERRORS errors, each text cut at MAX_NACK_MESSAGE_CHARS, and no more of them than fit in
 * MAX_NACK_ERRORS_BYTES of JSON: a snapshot with hundreds of broken routes says so in its first
 * errors, and every gateway's answers must fit in the records replicas share through Consul
 * (ack-ledger.ts), whose transactions are limited to 512 KiB.
 */
import { isJsonObject } from '@portolan/api';
import type { AckRequest, NackError } from '@portolan/agent-client';

export const MAX_NACK_ERRORS = 20;
export const MAX_NACK_MESSAGE_CHARS = 1_000;
/** Control characters take 6 bytes each in JSON: the errors kept are bounded in bytes too. */
export const MAX_NACK_ERRORS_BYTES = 32 * 1024;
/** Versions the control plane sends are tens of characters; this bounds what comes back. */
const MAX_VERSION_CHARS = 256;

const SHAPE = 'an ACK is {"version": string, "revision": number, "status": "ACK" | "NACK", "errors"?: [{"resource": string, "field"?: string, "message": string}]}: see docs/agent-protocol.md';

export class InvalidAckError extends Error {
  readonly code = 'PORTOLAN_INVALID_ACK';
}

const cut = (text: string) => (text.length > MAX_NACK_MESSAGE_CHARS ? `${text.slice(0, MAX_NACK_MESSAGE_CHARS)}…` : text);

export function readAckRequest(body: unknown): AckRequest {
  if (!isJsonObject(body) || typeof body.version !== 'string' || typeof body.revision !== 'number' || (body.status !== 'ACK' && body.status !== 'NACK')) {
    throw new InvalidAckError(SHAPE);
  }
  if (body.version.length > MAX_VERSION_CHARS) throw new InvalidAckError(`version: must be at most ${MAX_VERSION_CHARS} characters (it is the version of the snapshot being answered)`);
  if (!Number.isSafeInteger(body.revision) || body.revision < 0) throw new InvalidAckError(`revision: must be a whole number of at least 0, not ${body.revision}`);
  if (body.errors !== undefined && !Array.isArray(body.errors)) throw new InvalidAckError(`errors: must be a list; ${SHAPE}`);
  const errors: NackError[] = [];
  let bytes = 0;
  for (const [index, error] of ((body.errors ?? []) as unknown[]).slice(0, MAX_NACK_ERRORS).entries()) {
    if (!isJsonObject(error) || typeof error.resource !== 'string' || typeof error.message !== 'string' || (error.field !== undefined && typeof error.field !== 'string')) {
      throw new InvalidAckError(`errors[${index}]: must be {"resource": string, "field"?: string, "message": string}`);
    }
    const kept: NackError = { resource: cut(error.resource), ...(error.field !== undefined ? { field: cut(error.field) } : {}), message: cut(error.message) };
    bytes += Buffer.byteLength(JSON.stringify(kept));
    // The first error is always kept: alone it is at most three cut texts.
    if (errors.length > 0 && bytes > MAX_NACK_ERRORS_BYTES) break;
    errors.push(kept);
  }
  return { version: body.version, revision: body.revision, status: body.status, ...(body.errors !== undefined ? { errors } : {}) };
}
