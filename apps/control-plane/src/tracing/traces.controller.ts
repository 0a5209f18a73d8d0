import { Controller, Get, Param, Query } from '@nestjs/common';
import { Access } from '../auth/roles';
import { ApiError } from '../errors/api-error';
import type { ServiceOperations, Trace } from './trace-model';
import { parseTraceQuery, type RawQuery } from './trace-query';
import { TracingService } from './tracing.service';

/** The trace query API on the HTTPS port, for viewers; the same answers whichever backend holds the traces. */
@Controller('observability/v1')
export class TracesController {
  constructor(private readonly tracing: TracingService) {}

  @Get('traces')
  @Access('viewer')
  async search(@Query() query: RawQuery): Promise<{ traces: Trace[] }> {
    return { traces: await this.tracing.search(parseTraceQuery(query)) };
  }

  @Get('traces/:traceId')
  @Access('viewer')
  async get(@Param('traceId') traceId: string): Promise<Trace> {
    if (!/^[0-9a-fA-F]{32}$/.test(traceId)) {
      throw ApiError.of(400, 'BadRequest', `traceId "${traceId}" is not a trace id: use its 32 hex digits`, { causes: [{ field: 'traceId', message: 'not 32 hex digits', reason: 'FieldValueInvalid' }] });
    }
    const trace = await this.tracing.get(traceId.toLowerCase());
    if (!trace) throw ApiError.of(404, 'NotFound', `trace "${traceId}" not found: it was never received, or was evicted`, { name: traceId, kind: 'traces' });
    return trace;
  }

  @Get('services')
  @Access('viewer')
  async services(): Promise<{ services: ServiceOperations[] }> {
    return { services: await this.tracing.services() };
  }
}
