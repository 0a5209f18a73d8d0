/**
 * The gateway's admin listener, apart from proxied traffic: `/metrics` (Prometheus), `/healthz`
 * (the process is up), `/ready` (it has a configuration and is not draining: load balancers in
 * front of gateways should use this one), `/config` (the last snapshot, with provenance, and the parts it rejected and runs in their previous version).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProxyServer } from './proxy/proxy-server.js';
import type { GatewayMetrics } from './telemetry/metrics.js';

export class AdminServer {
  private readonly server: Server;

  constructor(private readonly deps: { metrics: GatewayMetrics; proxy: ProxyServer; ready: () => boolean }) {
    this.server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      const reply = (status: number, type: string, body: string) => {
        response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
        response.end(body);
      };
      if (path === '/healthz') return reply(200, 'text/plain', 'ok');
      if (path === '/ready') return this.deps.ready() ? reply(200, 'text/plain', 'ready') : reply(503, 'text/plain', 'not ready: no configuration yet, or draining');
      if (path === '/config') return reply(200, 'application/json', JSON.stringify(this.deps.proxy.currentSnapshot() ?? null));
      if (path === '/metrics') {
        void this.deps.metrics.registry.metrics().then(
          (text) => reply(200, this.deps.metrics.registry.contentType, text),
          (error: Error) => reply(500, 'text/plain', error.message),
        );
        return;
      }
      reply(404, 'text/plain', 'the admin port serves /metrics, /healthz, /ready and /config');
    });
  }

  async listen(host: string, port: number): Promise<string> {
    await new Promise<void>((resolve, reject) => this.server.once('error', reject).listen(port, host, resolve));
    const address = this.server.address() as AddressInfo;
    return `${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
