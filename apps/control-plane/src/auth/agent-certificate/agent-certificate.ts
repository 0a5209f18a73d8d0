/**
 * Mutual TLS on the agent protocol (PORTOLAN_TLS_AGENT_CLIENT_CA_FILE): whether the certificate a
 * gateway or service instance presented lets it speak the protocol at all (401 otherwise), and
 * whether it may act as the node it claims to be (403 otherwise). Pure: the edges are in
 * agent-certificate-gate.ts.
 *
 * A certificate is an agent's when it verifies against the agent CA bundle (directly or through
 * intermediates the agent sent), is valid now, lists the clientAuth extended key usage, and
 * carries exactly one SPIFFE ID naming the agent (libs/agent-client/src/agent-identity.ts). The
 * clientAuth usage is required outright, not inferred from its absence as Go would: an agent
 * certificate is issued for this purpose, and a certificate without usages is most often a CA's
 * or a server's that was not meant to log in anywhere.
 */
import type { X509Certificate } from 'node:crypto';
import { failureStatus, type Status } from '@portolan/api';
import { parseAgentSpiffeId, spiffeIdsOf, type AgentIdentity, type AgentRole } from '@portolan/agent-client';
import { KIND_OF_ROLE } from '../../registry/node-registry';
import { describeCertificate, verifyClientCertificateChain, type PresentedCertificate } from '../../tls/client-certificate';

export const AGENT_CA_SETTING = 'PORTOLAN_TLS_AGENT_CLIENT_CA_FILE';

export type AgentCertificateVerdict = { trusted: true; identity: AgentIdentity } | { trusted: false; status: Status };

/** A node as the registry names it: what a registration would store, or what a node route acts on. */
export interface NodeName {
  role: AgentRole;
  namespace: string;
  name: string;
}

const EXPECTED_ID = 'spiffe://<trust domain>/ns/<namespace>/gateway/<name> (or …/instance/<name>), with lower-case object names';

const unauthorized = (message: string): AgentCertificateVerdict => ({ trusted: false, status: failureStatus(401, 'Unauthorized', `Unauthorized: ${message}`) });

const describeNode = (node: NodeName) => `${node.role} ${node.namespace}/${node.name}`;

export function verifyAgentCertificate(presented: PresentedCertificate | undefined, cas: readonly X509Certificate[], now: Date): AgentCertificateVerdict {
  const chain = verifyClientCertificateChain(presented, cas, { issuerDescription: `the agent CA (${AGENT_CA_SETTING})`, clientAuthUsage: 'explicit', now });
  if (!chain.trusted) {
    if (!presented || presented.chain.length === 0) {
      return unauthorized(`${chain.reason}; the agent protocol needs one signed by the agent CA (${AGENT_CA_SETTING}): start the gateway with --client-cert and --client-key`);
    }
    return unauthorized(chain.reason);
  }
  const leaf = presented!.chain[0];
  const ids = spiffeIdsOf(leaf);
  if (ids.length === 0) return unauthorized(`the client certificate (${describeCertificate(leaf)}) names no agent: it needs a URI SAN ${EXPECTED_ID}`);
  if (ids.length > 1) return unauthorized(`the client certificate (${describeCertificate(leaf)}) carries ${ids.length} SPIFFE IDs (${ids.join(', ')}); an agent's carries exactly one`);
  const identity = parseAgentSpiffeId(ids[0]);
  if (!identity) return unauthorized(`the client certificate's SPIFFE ID ${ids[0]} names no agent: it must be ${EXPECTED_ID}`);
  return { trusted: true, identity };
}

/** 403 when the certificate's agent may not register `claimed`; undefined when it is the same node. */
export function registrationMismatch(identity: AgentIdentity, claimed: NodeName): Status | undefined {
  if (sameNode(identity, claimed)) return undefined;
  const field = identity.role !== claimed.role ? 'role' : identity.namespace !== claimed.namespace ? (claimed.role === 'instance' ? 'service.namespace' : 'namespace') : 'name';
  const wanted = field === 'role' ? identity.role : field === 'name' ? identity.name : identity.namespace;
  return failureStatus(403, 'Forbidden', `Forbidden: the client certificate is for ${describeNode(identity)} (${identity.spiffeId}); it may not register ${describeNode(claimed)}`, {
    kind: KIND_OF_ROLE[claimed.role],
    name: claimed.name,
    causes: [{ field, reason: 'FieldValueForbidden', message: `must be ${JSON.stringify(wanted)}, as the client certificate says` }],
  });
}

/** 403 when the certificate's agent may not use the routes of node `id`, registered as `node`. */
export function nodeMismatch(identity: AgentIdentity, id: string, node: NodeName): Status | undefined {
  if (sameNode(identity, node)) return undefined;
  return failureStatus(403, 'Forbidden', `Forbidden: the client certificate is for ${describeNode(identity)} (${identity.spiffeId}); node ${id} is ${describeNode(node)}`, {
    kind: KIND_OF_ROLE[node.role],
    name: node.name,
  });
}

function sameNode(identity: AgentIdentity, node: NodeName): boolean {
  return identity.role === node.role && identity.namespace === node.namespace && identity.name === node.name;
}
