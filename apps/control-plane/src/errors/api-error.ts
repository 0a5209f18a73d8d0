/**
 * The one place where failures become Kubernetes `Status` answers. Services throw ApiError (or a
 * store error, mapped below); the global filter in api-exception.filter.ts writes the Status.
 */
import { failureStatus, type Status, type StatusCause, type StatusReason } from '@portolan/api';
import { StoreContentionError, StoreObjectTooLargeError } from '../store/consul-resource-store';
import { StoreAlreadyExistsError, StoreConflictError, StoreNotFoundError, StoreRevisionCompactedError } from '../store/resource-store';

export class ApiError extends Error {
  constructor(readonly status: Status) {
    super(status.message);
  }

  static of(code: number, reason: StatusReason, message: string, details?: Status['details']): ApiError {
    return new ApiError(failureStatus(code, reason, message, details));
  }

  static badRequest(message: string): ApiError {
    return ApiError.of(400, 'BadRequest', message);
  }

  static invalid(kind: string, name: string, causes: StatusCause[], group?: string): ApiError {
    const summary = causes.map((cause) => (cause.field ? `${cause.field}: ${cause.message}` : cause.message)).join(', ');
    return ApiError.of(422, 'Invalid', `${kind} "${name}" is invalid: ${summary}`, { name, kind, ...(group ? { group } : {}), causes });
  }

  static notFound(resource: string, name: string, group?: string): ApiError {
    return ApiError.of(404, 'NotFound', `${resource}${group ? `.${group}` : ''} "${name}" not found`, { name, kind: resource, ...(group ? { group } : {}) });
  }
}

/** Maps what the store throws to the Status a client expects; anything else is left alone. */
export function fromStoreError(error: unknown, resource: string, group: string): unknown {
  if (error instanceof StoreNotFoundError) return ApiError.notFound(resource, error.key.name, group);
  if (error instanceof StoreAlreadyExistsError) {
    return ApiError.of(409, 'AlreadyExists', `${resource}.${group} "${error.key.name}" already exists`, { name: error.key.name, kind: resource, group });
  }
  if (error instanceof StoreConflictError) {
    return ApiError.of(409, 'Conflict', `Operation cannot be fulfilled on ${resource}.${group} "${error.key.name}": ${error.message}`, {
      name: error.key.name,
      kind: resource,
      group,
    });
  }
  if (error instanceof StoreRevisionCompactedError) return ApiError.of(410, 'Expired', error.message);
  if (error instanceof StoreObjectTooLargeError) return ApiError.of(413, 'RequestEntityTooLarge', error.message);
  if (error instanceof StoreContentionError) return ApiError.of(409, 'Conflict', error.message, { name: error.key.name, kind: resource, group });
  return error;
}
