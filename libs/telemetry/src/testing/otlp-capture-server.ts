/**
 * A collector stand-in for tests: an HTTP server on loopback that accepts OTLP/HTTP trace exports,
 * records each request, and decodes http/json bodies into flat spans. Test-only: exported as
 * `@portolan/telemetry/testing` under the `development` condition (sources), never built.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CapturedSpan {
  serviceName: string;
  resource: Record<string, unknown>;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  flags: number;
  attributes: Record<string, unknown>;
  status: { code?: number; message?: string };
}

export interface CapturedExport {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface OtlpValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}

const flatten = (attributes: OtlpAttribute[] = []) =>
  Object.fromEntries(attributes.map(({ key, value }) => [key, value.stringValue ?? value.boolValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.doubleValue)]));

export function decodeOtlpJson(body: Buffer): CapturedSpan[] {
  const document = JSON.parse(body.toString()) as { resourceSpans?: Array<{ resource?: { attributes?: OtlpAttribute[] }; scopeSpans?: Array<{ spans?: Array<Record<string, any>> }> }> };
  return (document.resourceSpans ?? []).flatMap((resourceSpans) => {
    const resource = flatten(resourceSpans.resource?.attributes);
    return (resourceSpans.scopeSpans ?? []).flatMap((scope) =>
      (scope.spans ?? []).map((span) => ({
        serviceName: String(resource['service.name']),
        resource,
        traceId: span.traceId,
        spanId: span.spanId,
        parentSpanId: span.parentSpanId ?? '',
        name: span.name,
        kind: span.kind,
        flags: span.flags ?? 0,
        attributes: flatten(span.attributes),
        status: span.status ?? {},
      })),
    );
  });
}

export interface OtlpCaptureServer {
  /** The traces URL to export to. */
  url: string;
  exports: CapturedExport[];
  /** Every span received so far, decoded (http/json exports only). */
  spans(): CapturedSpan[];
  close(): Promise<void>;
}

/** `answerStatus` other than 200 plays a collector that refuses exports (e.g. 404: no receiver there yet). */
export async function startOtlpCaptureServer(options: { answerStatus?: number } = {}): Promise<OtlpCaptureServer> {
  const status = options.answerStatus ?? 200;
  const exports: CapturedExport[] = [];
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    exports.push({ path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks) });
    const json = String(request.headers['content-type']).startsWith('application/json');
    response.writeHead(status, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
    response.end(json ? '{}' : undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    exports,
    spans: () => exports.filter((e) => String(e.headers['content-type']).startsWith('application/json')).flatMap((e) => decodeOtlpJson(e.body)),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
