import { Controller, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Access } from '../auth/roles';
import { ApiError } from '../errors/api-error';
import { OTLP_JSON, OTLP_PROTOBUF, OTLP_TRACES_PATH } from './otlp/otlp-body';
import { GRPC_CODES, OtlpDecodeError, decodeJsonExport, decodeProtobufExport, encodeProtobufError, encodeProtobufResponse, jsonResponse, type DecodedExport } from './otlp/otlp-decoder';
import { TracingService } from './tracing.service';

/**
 * The OTLP/HTTP trace receiver (https://opentelemetry.io/docs/specs/otlp/#otlphttp). Public because
 * exporters send no token; it is reachable only on the plain-HTTP ops port (otlp/otlp-body.ts).
 * Answers in the request's encoding: ExportTraceServiceResponse, with partialSuccess when spans were
 * rejected; a body that does not decode is a 400 with google.rpc.Status for protobuf clients and a
 * Kubernetes Status (which also has `code` and `message`) for JSON ones.
 */
@Controller()
export class OtlpReceiverController {
  constructor(private readonly tracing: TracingService) {}

  @Post(OTLP_TRACES_PATH)
  @Access('public')
  receive(@Req() request: Request, @Res() response: Response) {
    if (!this.tracing.receivesSpans) {
      throw ApiError.of(404, 'NotFound', 'this control plane reads traces from Jaeger (PORTOLAN_TRACE_BACKEND=jaeger) and does not receive spans: point OTLP exporters at Jaeger\'s OTLP receiver or at an OpenTelemetry Collector that exports to Jaeger');
    }
    const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== OTLP_PROTOBUF && type !== OTLP_JSON) {
      throw ApiError.of(415, 'UnsupportedMediaType', `OTLP/HTTP takes Content-Type ${OTLP_PROTOBUF} or ${OTLP_JSON}, not "${type}"`);
    }
    // No body at all is an empty export; express.raw leaves request.body unset then.
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    let decoded: DecodedExport;
    try {
      decoded = type === OTLP_PROTOBUF ? decodeProtobufExport(body) : decodeJsonExport(body);
    } catch (error) {
      if (!(error instanceof OtlpDecodeError)) throw error;
      if (type === OTLP_JSON) throw ApiError.badRequest(`the body is not an OTLP/JSON ExportTraceServiceRequest: ${error.message}`);
      response.status(400).type(OTLP_PROTOBUF).send(Buffer.from(encodeProtobufError(GRPC_CODES.invalidArgument, error.message)));
      return;
    }
    this.tracing.receive(decoded);
    const errorMessage = decoded.rejections.map((reason) => `rejected spans: ${reason}`).join('; ');
    if (type === OTLP_PROTOBUF) {
      response.status(200).type(OTLP_PROTOBUF).send(Buffer.from(encodeProtobufResponse(decoded.rejectedSpans, errorMessage)));
    } else {
      response.status(200).json(jsonResponse(decoded.rejectedSpans, errorMessage));
    }
  }
}
