/** A kubeconfig for this control plane: its HTTPS URL, its CA and a bearer token. */
import { stringify } from 'yaml';

export interface KubeconfigInput {
  server: string;
  caPem: string;
  token: string;
  context?: string;
}

export function renderKubeconfig({ server, caPem, token, context = 'portolan' }: KubeconfigInput): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: context, cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: `${context}-user`, user: { token } }],
    contexts: [{ name: context, context: { cluster: context, user: `${context}-user`, namespace: 'default' } }],
    'current-context': context,
  });
}
