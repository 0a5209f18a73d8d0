import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import type { Logger } from 'pino';
import { failureStatus, type StatusReason } from '@portolan/api';
import { ConsulAccessDeniedError, ConsulUnavailableError } from '../consul/consul-client';
import { ApiError } from './api-error';

const REASONS: Record<number, StatusReason> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  503: 'ServiceUnavailable',
};

/** Every error leaves the API as a Kubernetes Status; unexpected ones are logged with their stack. */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    let status;
    if (exception instanceof ApiError) {
      status = exception.status;
    } else if (exception instanceof HttpException) {
      const code = exception.getStatus();
      const body = exception.getResponse();
      const message = typeof body === 'object' && body && 'message' in body ? String((body as { message: unknown }).message) : exception.message;
      status = failureStatus(code, REASONS[code] ?? 'InternalError', code === 404 ? `the server could not find the requested resource: ${message}` : message);
    } else if (exception instanceof ConsulUnavailableError) {
      // Reads and writes need Consul; gateways keep running the configuration they were sent.
      status = failureStatus(503, 'ServiceUnavailable', `${exception.message}: the control plane cannot read or change mesh state until Consul answers again; gateways keep running their last configuration; retry later`);
    } else if (exception instanceof ConsulAccessDeniedError) {
      this.logger.error({ err: exception }, 'Consul refused the control plane');
      status = failureStatus(503, 'ServiceUnavailable', exception.message);
    } else if (isBodyParserError(exception)) {
      const code = exception.status;
      status = failureStatus(code, REASONS[code] ?? 'BadRequest', code === 413 ? `the request body is too large (limit ${exception.limit} bytes)` : `the request body could not be read: ${exception.message}`);
    } else {
      this.logger.error({ err: exception }, 'unexpected error while serving a request');
      status = failureStatus(500, 'InternalError', 'an internal error occurred; the control plane log has the details under this request\'s traceId');
    }
    if (response.headersSent) {
      response.end();
      return;
    }
    response.status(status.code).json(status);
  }
}

function isBodyParserError(error: unknown): error is { status: number; message: string; limit?: number } {
  return typeof error === 'object' && error !== null && 'type' in error && typeof (error as { status?: unknown }).status === 'number';
}
