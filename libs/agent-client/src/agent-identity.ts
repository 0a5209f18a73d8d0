/**
 * Who an agent is, as its TLS client certificate says when the control plane verifies agents
 * (PORTOLAN_TLS_AGENT_CLIENT_CA_FILE; docs/agent-protocol.md, "Client certificates"): a SPIFFE ID
 * (X.509-SVID) as the certificate's URI SAN,
 *
 *   spiffe://<trust domain>/ns/<namespace>/gateway/<name>
 *   spiffe://<trust domain>/ns/<namespace>/instance/<name>
 *
 * with the namespace and object name the registration is stored under. The subject CN is not read:
 * SPIFFE leaves it free, and CAs such as SPIRE or cert-manager put other things there. Any trust
 * domain is accepted; which CAs are trusted is the bundle's business.
 */
import type { X509Certificate } from 'node:crypto';

export type AgentRole = 'gateway' | 'instance';

export interface AgentIdentity {
  spiffeId: string;
  trustDomain: string;
  namespace: string;
  role: AgentRole;
  name: string;
}

/** SPIFFE: a trust domain is lower-case letters, digits, ".", "-" and "_". */
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
/** A Portolan object name (namespaces included): lower-case letters, digits, "-" and ".", alphanumeric at both ends. */
const OBJECT_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const AGENT_PATH = /^\/ns\/([^/]+)\/(gateway|instance)\/([^/]+)$/;
/** SPIFFE IDs are at most 2048 bytes. */
const MAX_SPIFFE_ID_LENGTH = 2048;

/** The SPIFFE ID a certificate must carry for the agent `name` in `namespace`. */
export function agentSpiffeId(identity: Omit<AgentIdentity, 'spiffeId'>): string {
  return `spiffe://${identity.trustDomain}/ns/${identity.namespace}/${identity.role}/${identity.name}`;
}

/** The agent a SPIFFE ID names; undefined when it is not one of the two forms above. */
export function parseAgentSpiffeId(spiffeId: string): AgentIdentity | undefined {
  if (spiffeId.length > MAX_SPIFFE_ID_LENGTH || !spiffeId.startsWith('spiffe://')) return undefined;
  const rest = spiffeId.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return undefined;
  const trustDomain = rest.slice(0, slash);
  const match = AGENT_PATH.exec(rest.slice(slash));
  if (!TRUST_DOMAIN.test(trustDomain) || !match) return undefined;
  const [, namespace, role, name] = match;
  if (!OBJECT_NAME.test(namespace) || !OBJECT_NAME.test(name)) return undefined;
  return { spiffeId, trustDomain, namespace, role: role as AgentRole, name };
}

/**
 * The URI SANs of `certificate` that are SPIFFE IDs. Node prints the SANs as `TYPE:value, …`,
 * JSON-quoting a value with a special character (its commas as \u002c), so ", " only separates.
 */
export function spiffeIdsOf(certificate: X509Certificate): string[] {
  const names = certificate.subjectAltName;
  if (!names) return [];
  return names
    .split(', ')
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice('URI:'.length))
    .map(unquoted)
    .filter((uri) => uri.toLowerCase().startsWith('spiffe:'));
}

function unquoted(value: string): string {
  if (!value.startsWith('"')) return value;
  try {
    return String(JSON.parse(value));
  } catch {
    return value;
  }
}
