/**
 * The TLS settings of every connection the agent makes to the control plane (HTTP calls and the
 * WebSocket stream alike): the CA it trusts the control plane with, and its own certificate when
 * the control plane verifies agents (docs/agent-protocol.md, "Client certificates").
 */

/** The agent's certificate (PEM, intermediates after it) and its private key (PEM). */
export interface ClientCertificate {
  certPem: string;
  keyPem: string;
}

export interface ClientTls {
  /** PEM of the CA that signed the control plane's certificate; the system store when absent. */
  caPem?: string;
  clientCertificate?: ClientCertificate;
}

/** Options for tls.connect (undici's `connect`, ws's client options); only what is set. */
export function tlsConnectOptions({ caPem, clientCertificate }: ClientTls): { ca?: string; cert?: string; key?: string } {
  return {
    ...(caPem === undefined ? {} : { ca: caPem }),
    ...(clientCertificate ? { cert: clientCertificate.certPem, key: clientCertificate.keyPem } : {}),
  };
}
