/**
 * The plain-HTTP ops port: /healthz, /readyz, /metrics, /version and the OTLP receiver, nothing
 * else (the API needs TLS). It listens before the backend is opened, so that a replica waiting for
 * Consul at start answers its probes: alive (/healthz 200), not ready (/readyz 503, saying what it
 * waits for). Once the app is up, the app answers these paths.
 */
import type { RequestListener } from 'node:http';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { failureStatus } from '@portolan/api';
import { OTLP_TRACES_PATH } from '../tracing/otlp/otlp-body';

/** Paths the plain-HTTP ops listener serves; everything else needs TLS. */
export const OPS_PATHS = new Set(['/healthz', '/readyz', '/metrics', '/version', OTLP_TRACES_PATH]);

export interface OpsListener {
  url: string;
  /** Why the control plane is not serving yet; shown by /readyz until `serve` is called. */
  starting(reason: string): void;
  /** Hands the ops paths to the app. */
  serve(app: RequestListener, apiUrl: string): void;
  close(): Promise<void>;
}

function sendJson(response: Parameters<RequestListener>[1], body: object & { code: number }): void {
  response.statusCode = body.code;
  response.setHeader('Content-Type', 'application/json');
  response.end(JSON.stringify(body));
}

export async function listenOps(host: string, port: number): Promise<OpsListener> {
  let reason = 'starting';
  let app: RequestListener | undefined;
  let apiUrl: string | undefined;
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (!OPS_PATHS.has(path)) {
      const where = apiUrl ? `; the API is at ${apiUrl}` : '';
      return sendJson(response, failureStatus(404, 'NotFound', `the ops port serves only ${[...OPS_PATHS].join(', ')}${where}`));
    }
    if (app) return app(request, response);
    response.setHeader('Content-Type', 'text/plain');
    if (path === '/healthz') return response.end(`ok (not ready yet: ${reason})`);
    if (path === '/readyz') {
      response.statusCode = 503;
      return response.end(`not ready: ${reason}`);
    }
    sendJson(response, failureStatus(503, 'ServiceUnavailable', `the control plane is not serving yet: ${reason}`));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const bracketed = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${bracketed}:${(server.address() as AddressInfo).port}`,
    starting: (why) => (reason = why),
    serve: (handler, url) => {
      app = handler;
      apiUrl = url;
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
