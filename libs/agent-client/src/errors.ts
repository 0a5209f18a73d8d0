/**
 * Every failure the client reports is an AgentClientError with a stable `code` (like undici's
 * `UND_ERR_*`), so callers branch on the code and log the message, which carries the control
 * plane's own `Status` message when there was one.
 */
import { isStatus, type StatusCause } from '@portolan/api';

export type AgentClientErrorCode =
  /** No answer: connection refused, TLS failure, timeout. Retried. */
  | 'PORTOLAN_AGENT_UNREACHABLE'
  /** 5xx, 408 or 429: the control plane is there but cannot answer now. Retried. */
  | 'PORTOLAN_AGENT_UNAVAILABLE'
  /** 401: the bootstrap token or node credential is not valid. */
  | 'PORTOLAN_AGENT_UNAUTHORIZED'
  /** 403: the token is valid but may not do this. */
  | 'PORTOLAN_AGENT_FORBIDDEN'
  /** 404: on a node endpoint, the node was removed or registered again under a new id. */
  | 'PORTOLAN_AGENT_NOT_FOUND'
  /** Any other 4xx (400, 422 ...): the request itself is wrong; sending it again will not help. */
  | 'PORTOLAN_AGENT_REJECTED'
  /** The WebSocket upgrade was answered with something other than 101. */
  | 'PORTOLAN_AGENT_UPGRADE_REFUSED'
  /** The WebSocket closed, or was closed by the client after the peer stayed silent. */
  | 'PORTOLAN_AGENT_STREAM_CLOSED'
  /** The control plane answered something that is not the protocol (bad JSON, missing fields). */
  | 'PORTOLAN_AGENT_INVALID_RESPONSE'
  /** The call needs a registration and there is none (not registered yet, or deregistered). */
  | 'PORTOLAN_AGENT_NOT_REGISTERED'
  /** The caller's AbortSignal fired, or the client was stopped. */
  | 'PORTOLAN_AGENT_ABORTED';

export interface AgentClientErrorDetails {
  statusCode?: number;
  /** The `reason` of the control plane's Status (Unauthorized, Invalid ...). */
  reason?: string;
  /** Field-level causes of a 422, from the Status details. */
  causes?: StatusCause[];
  cause?: unknown;
}

export class AgentClientError extends Error {
  override readonly name = 'AgentClientError';
  readonly statusCode?: number;
  readonly reason?: string;
  readonly causes?: StatusCause[];

  constructor(
    readonly code: AgentClientErrorCode,
    message: string,
    details: AgentClientErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    if (details.statusCode !== undefined) this.statusCode = details.statusCode;
    if (details.reason !== undefined) this.reason = details.reason;
    if (details.causes !== undefined) this.causes = details.causes;
  }

  /** Loggers serialize Errors to `{}`; events carry errors, so they must log as something useful. */
  toJSON(): { code: AgentClientErrorCode; message: string; statusCode?: number; reason?: string } {
    return { code: this.code, message: this.message, statusCode: this.statusCode, reason: this.reason };
  }
}

function codeForStatus(statusCode: number): AgentClientErrorCode {
  if (statusCode === 401) return 'PORTOLAN_AGENT_UNAUTHORIZED';
  if (statusCode === 403) return 'PORTOLAN_AGENT_FORBIDDEN';
  if (statusCode === 404) return 'PORTOLAN_AGENT_NOT_FOUND';
  if (statusCode === 408 || statusCode === 429 || statusCode >= 500) return 'PORTOLAN_AGENT_UNAVAILABLE';
  return 'PORTOLAN_AGENT_REJECTED';
}

/** The error for a non-success answer to `request` (e.g. `POST /agent/v1/register`). */
export function errorForStatus(request: string, statusCode: number, body: string): AgentClientError {
  let status: unknown;
  try {
    status = JSON.parse(body);
  } catch {
    status = undefined;
  }
  if (isStatus(status)) {
    return new AgentClientError(codeForStatus(statusCode), `${request} answered ${statusCode}: ${status.message}`, {
      statusCode,
      reason: status.reason,
      causes: status.details?.causes,
    });
  }
  const excerpt = body.trim().slice(0, 200);
  return new AgentClientError(codeForStatus(statusCode), `${request} answered ${statusCode}${excerpt ? `: ${excerpt}` : ''}`, { statusCode });
}

/** Whether sending the same request later may succeed: the control plane was away or overloaded. */
export function isTransient(error: AgentClientError): boolean {
  return error.code === 'PORTOLAN_AGENT_UNREACHABLE' || error.code === 'PORTOLAN_AGENT_UNAVAILABLE';
}

export function abortedError(what: string, cause?: unknown): AgentClientError {
  return new AgentClientError('PORTOLAN_AGENT_ABORTED', `${what}: aborted`, cause === undefined ? {} : { cause });
}

