/**
 * Where mutual TLS on the agent protocol is enforced (PORTOLAN_TLS_AGENT_CLIENT_CA_FILE): two
 * Express middlewares in front of every route under /agent/v1 (the certificate before the body is
 * read, the node it names once the registration's body is there), and a check the stream upgrade
 * (distribution/agent-stream.ts), which bypasses Express, calls. Both come before the bearer
 * token is looked at, so a node credential without the node's certificate and key gets nothing,
 * and neither counts toward the address's lockout: a missing certificate is not a guessed secret.
 *
 * The CA bundle is read once at start; a changed file takes a restart.
 */
import type { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { isJsonObject, type Status } from '@portolan/api';
import type { AgentIdentity, RegisterRequest } from '@portolan/agent-client';
import { InvalidRegistrationError, type NodeRegistry } from '../../registry/node-registry';
import { admit } from '../../registry/registration';
import { CertificateBundleError, describeCertificate, parseCertificateBundle, presentedCertificate } from '../../tls/client-certificate';
import { AGENT_CA_SETTING, nodeMismatch, registrationMismatch, verifyAgentCertificate, type AgentCertificateVerdict, type NodeName } from './agent-certificate';

/** The agent CA bundle: its PEM (offered to clients in the TLS handshake) and its certificates. */
export interface AgentClientCa {
  pem: string;
  cas: X509Certificate[];
}

/** Paths relative to the agent prefix, matched as case-insensitively as Express routes them. */
const REGISTER_PATH = /^\/register\/?$/i;
const NODE_PATH = /^\/nodes\/([^/]+)(?:\/|$)/i;

/** CertificateBundleError naming the setting when the file cannot be read, holds no certificate or one that is not a CA. */
export function readAgentClientCa(file: string): AgentClientCa {
  const source = `${AGENT_CA_SETTING}=${file}`;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CertificateBundleError(`${source}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const cas = parseCertificateBundle(pem, source);
  const notCa = cas.findIndex((certificate) => !certificate.ca);
  if (notCa >= 0) throw new CertificateBundleError(`${source}: certificate ${notCa + 1} (${describeCertificate(cas[notCa])}) is not a CA certificate (basicConstraints CA:TRUE): the file must hold the CA that signs the gateways' certificates`);
  return { pem, cas };
}

export class AgentCertificateGate {
  constructor(
    private readonly ca: AgentClientCa,
    private readonly registry: Pick<NodeRegistry, 'get'>,
    private readonly logger: Pick<Logger, 'debug' | 'warn'>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Verified identities of requests `authenticate` let through, for `authorize`. */
  private readonly identities = new WeakMap<Request, AgentIdentity>();

  /** Mount at AGENT_API_PREFIX before the body parsers: a client without a certificate has no body read. */
  readonly authenticate = (request: Request, response: Response, next: NextFunction): void => {
    const verdict = this.verify(request.socket);
    if (!verdict.trusted) return this.refuse(response, request.socket, verdict.status);
    this.identities.set(request, verdict.identity);
    next();
  };

  /** Mount at AGENT_API_PREFIX after the body parsers: a registration is checked against the name in its body. */
  readonly authorize = (request: Request, response: Response, next: NextFunction): void => {
    const known = this.identities.get(request);
    const verdict = known ? { trusted: true as const, identity: known } : this.verify(request.socket);
    if (!verdict.trusted) return this.refuse(response, request.socket, verdict.status);
    let refusal: Status | undefined;
    if (REGISTER_PATH.test(request.path)) {
      const claimed = claimedRegistration(request.body);
      refusal = claimed && registrationMismatch(verdict.identity, claimed);
    } else {
      const id = nodeIdOf(request.path);
      const node = id === undefined ? undefined : this.registry.get(id);
      refusal = node && nodeMismatch(verdict.identity, id!, node);
    }
    if (refusal) return this.refuse(response, request.socket, refusal);
    next();
  };

  /** Why `socket` may not open node `id`'s stream; undefined when its certificate is that node's (or the node is unknown, which the stream refuses itself). */
  streamRefusal(socket: Socket, id: string): Status | undefined {
    const verdict = this.verify(socket);
    const node = this.registry.get(id);
    const refusal = !verdict.trusted ? verdict.status : node && nodeMismatch(verdict.identity, id, node);
    if (refusal) this.log(socket, refusal);
    return refusal;
  }

  private verify(socket: Socket): AgentCertificateVerdict {
    return verifyAgentCertificate(presentedCertificate(socket), this.ca.cas, this.now());
  }

  private refuse(response: Response, socket: Socket, status: Status): void {
    this.log(socket, status);
    response.status(status.code).json(status);
  }

  private log(socket: Socket, status: Status): void {
    // A 403 is a valid certificate used for another node: worth an operator's attention, unlike a stray client without one.
    const fields = { remoteAddress: socket.remoteAddress, code: status.code, reason: status.message };
    if (status.code === 403) this.logger.warn(fields, 'agent refused: its client certificate names another node');
    else this.logger.debug(fields, 'agent refused: no valid client certificate');
  }
}

/** The node a registration would be stored as; undefined when it is not a valid one (the controller answers that). */
function claimedRegistration(body: unknown): NodeName | undefined {
  if (!isJsonObject(body)) return undefined;
  const request = body as unknown as RegisterRequest;
  try {
    const { namespace, name } = admit(request);
    return { role: request.role, namespace, name };
  } catch (error) {
    if (error instanceof InvalidRegistrationError) return undefined;
    throw error;
  }
}

/** The node id of a node route, decoded as Express decodes its `:id`; undefined elsewhere or when it does not decode. */
function nodeIdOf(path: string): string | undefined {
  const encoded = NODE_PATH.exec(path)?.[1];
  if (encoded === undefined) return undefined;
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}
