/**
 * Body handling of the OTLP/HTTP receiver, mounted by control-plane.ts on OTLP_TRACES_PATH ahead
 * of the API's JSON parser (which then sees the body as read and leaves it alone):
 * - on the HTTPS API port the receiver does not exist (404): it takes spans without a token, which
 *   is acceptable on the in-cluster ops port, like a Collector's 4318, but not on the API port;
 * - the raw body, gunzipped when Content-Encoding says so, up to OTLP_BODY_LIMIT (after inflating);
 * - body errors become a Status here, since the API's parser error handler quotes its own limit:
 *   google.rpc.Status in protobuf for protobuf clients (as OTLP/HTTP prescribes), a Kubernetes
 *   Status for the others.
 */
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import type { TLSSocket } from 'node:tls';
import { failureStatus } from '@portolan/api';
import { GRPC_CODES, encodeProtobufError } from './otlp-decoder';

export const OTLP_TRACES_PATH = '/v1/traces';
export const OTLP_BODY_LIMIT = '8mb';
export const OTLP_PROTOBUF = 'application/x-protobuf';
export const OTLP_JSON = 'application/json';

const notOnApiPort: RequestHandler = (request, response, next) => {
  if (!(request.socket as TLSSocket).encrypted) return next();
  const status = failureStatus(404, 'NotFound', `the OTLP/HTTP receiver is served on the plain-HTTP ops port (PORTOLAN_OPS_PORT), not on the API port: point exporters at http://<control plane>:<ops port>${OTLP_TRACES_PATH}`);
  response.status(404).json(status);
};

const bodyErrors: ErrorRequestHandler = (error: { status?: number; message: string }, request, response, next) => {
  if (typeof error?.status !== 'number') return next(error);
  const [status, grpcCode] =
    error.status === 413
      ? [failureStatus(413, 'RequestEntityTooLarge', `the export is larger than ${OTLP_BODY_LIMIT} (after decompression): export smaller batches`), GRPC_CODES.resourceExhausted]
      : error.status === 415
        ? [failureStatus(415, 'UnsupportedMediaType', `${error.message}: OTLP/HTTP bodies are sent as is or with Content-Encoding gzip`), GRPC_CODES.unimplemented]
        : [failureStatus(400, 'BadRequest', `the request body could not be read: ${error.message}`), GRPC_CODES.invalidArgument];
  if (request.is(OTLP_PROTOBUF)) {
    response.status(status.code).type(OTLP_PROTOBUF).send(Buffer.from(encodeProtobufError(grpcCode, status.message)));
  } else {
    response.status(status.code).json(status);
  }
};

export function otlpBodyHandlers(): Array<RequestHandler | ErrorRequestHandler> {
  return [notOnApiPort, express.raw({ type: [OTLP_PROTOBUF, OTLP_JSON], limit: OTLP_BODY_LIMIT }), bodyErrors];
}
