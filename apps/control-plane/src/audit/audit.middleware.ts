/**
 * The one place that sees every write and its outcome: it runs for every request (AuditModule
 * applies it to all routes), ahead of the guard, so refusals by the guard (401, 403), by the
 * handler (409, 422, …) and successes all pass through it; audited-writes.ts decides what is
 * recorded and says what.
 *
 * The entry is handed to the log when the answer starts to go out (`end`), not after the client got
 * it: the embedded log has then stored it before the client can read the answer and ask for the
 * log, and the Consul log has queued it where its reads wait for it. `json` is watched only to read
 * the answer's identity fields (the object written, a Status's reason) without parsing it again.
 */
import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { Response } from 'express';
import { AGENT_API_PREFIX } from '@portolan/agent-client';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { BootstrapToken } from '../auth/bootstrap-token';
import { NODE_REGISTRY, type NodeRegistry } from '../registry/node-registry';
import { currentContext } from '../telemetry/request-context';
import { AuditRecorder } from './audit-recorder';
import { auditNotesOf } from './audit-notes';
import { auditEntryOf, type FinishedRequest } from './audited-writes';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

function bearerOf(request: AuthenticatedRequest): string | undefined {
  return /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1]?.trim();
}

@Injectable()
export class AuditMiddleware implements NestMiddleware {
  constructor(
    private readonly recorder: AuditRecorder,
    private readonly bootstrap: BootstrapToken,
    @Inject(NODE_REGISTRY) private readonly registry: NodeRegistry,
  ) {}

  use(request: AuthenticatedRequest, response: Response, next: () => void): void {
    if (READS.has(request.method)) return next();
    // The context object the guard names the principal in; read when the answer goes out.
    const context = currentContext();
    let answer: unknown;
    let recorded = false;
    const json = response.json;
    response.json = function (this: Response, body?: unknown) {
      answer = body;
      return json.call(this, body);
    };
    const end = response.end as (...args: unknown[]) => Response;
    const recorder = this.recorder;
    const finish = () => this.record(request, response.statusCode, answer, context?.principal, context?.traceId);
    response.end = function (this: Response, ...args: unknown[]) {
      if (!recorded) {
        recorded = true;
        // Whatever goes wrong describing the request, its answer still goes out.
        try {
          finish();
        } catch (error) {
          recorder.notDescribed(request.method, request.path, error as Error);
        }
      }
      return end.apply(this, args);
    } as Response['end'];
    next();
  }

  private record(request: AuthenticatedRequest, code: number, answer: unknown, contextPrincipal: string | undefined, traceId: string | undefined): void {
    const route = (request.route as { path?: string } | undefined)?.path;
    const params = (request.params ?? {}) as Record<string, string | undefined>;
    const principal = request.principal as FinishedRequest['principal'];
    const bearer = bearerOf(request);
    const finished: FinishedRequest = {
      method: request.method,
      route,
      path: request.path,
      params,
      query: (request.query ?? {}) as Record<string, unknown>,
      contentType: request.headers['content-type'],
      body: request.body,
      code,
      answer,
      principal,
      contextPrincipal,
      bootstrap: principal?.name === 'bootstrap' && bearer !== undefined && this.bootstrap.matches(bearer),
      node: route?.startsWith(AGENT_API_PREFIX) ? this.nodeOf(request, params.id ?? (answer as { id?: unknown } | undefined)?.id) : undefined,
      nodeAuthenticated: request.node !== undefined,
      credentialPresented: request.headers.authorization !== undefined,
      notes: auditNotesOf(request),
      sourceAddress: request.socket.remoteAddress,
      userAgent: request.headers['user-agent'],
      traceId,
    };
    const entry = auditEntryOf(finished);
    if (entry) void this.recorder.record(entry);
  }

  /** The node a request authenticated as, or the one its `:id` (or a registration's answer) names. */
  private nodeOf(request: AuthenticatedRequest, id: unknown): FinishedRequest['node'] {
    const node = request.node ?? (typeof id === 'string' ? this.registry.get(id) : undefined);
    return node && { id: node.id, role: node.role, namespace: node.namespace, name: node.name };
  }
}
