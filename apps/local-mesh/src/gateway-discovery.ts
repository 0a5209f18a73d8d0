/**
 * What a load balancer in front of the gateways does in the local mesh: it follows the registry
 * and sends traffic to the gateways that are routable (Healthy or Degraded) and have applied a
 * configuration (a gateway answers 503 until its first snapshot, as its /ready says). Gateways the
 * autoscaler starts join as soon as they run one; a draining gateway leaves at the next look,
 * while it still finishes what it has.
 */
import { request, type Agent } from 'undici';

const REFRESH_MS = 500;

export function followRoutableGateways(apiUrl: string, token: string, dispatcher: Agent, onChange: (proxyUrls: string[]) => void): { stop(): void } {
  let last = '';
  const refresh = async () => {
    const response = await request(`${apiUrl}/apis/mesh.portolan.dev/v1alpha1/gatewaynodes`, { dispatcher, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
    const body = (await response.body.json()) as { items?: Array<{ spec: { address: string }; status?: { phase?: string; appliedRevision?: number } }> };
    if (response.statusCode !== 200 || !body.items) return;
    const urls = body.items
      .filter((node) => (node.status?.phase === 'Healthy' || node.status?.phase === 'Degraded') && node.status.appliedRevision !== undefined)
      .map((node) => `http://${node.spec.address}`)
      .sort();
    // An empty list keeps the previous one: better a gateway that just left than no traffic at all.
    if (urls.length === 0 || urls.join() === last) return;
    last = urls.join();
    onChange(urls);
  };
  const timer = setInterval(() => void refresh().catch(() => undefined), REFRESH_MS);
  return { stop: () => clearInterval(timer) };
}
