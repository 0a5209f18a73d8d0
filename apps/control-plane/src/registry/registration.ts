/**
 * What every NodeRegistry does with a registration before storing it, whatever the backend:
 * validate it against the kind's schema, name it, and mint and hash its credential. The registry
 * keeps only the hash; the credential is returned once and never leaves the process otherwise.
 * Also what every registry does with a heartbeat's statistics.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DEFAULT_NAMESPACE, GROUP_VERSION, kindDefinition, nestingCause, validateResource, type GatewayNodeSpec, type ServiceInstanceSpec } from '@portolan/api';
import type { HeartbeatStats, RegisterRequest } from '@portolan/agent-client';
import { InvalidRegistrationError, KIND_OF_ROLE, type RegisteredNode } from './node-registry';

export interface Admitted {
  namespace: string;
  name: string;
  spec: GatewayNodeSpec | ServiceInstanceSpec;
}

export const credentialDigest = (credential: string): Buffer => createHash('sha256').update(credential).digest();

export const newCredential = (): string => `ptn_${randomBytes(24).toString('base64url')}`;

/** Whether `credential` hashes to `expected` (compared in constant time). */
export function credentialMatches(expected: Buffer | undefined, credential: string): boolean {
  return expected !== undefined && timingSafeEqual(expected, credentialDigest(credential));
}

/** Registration names become object names: DNS-1123, at most 63 characters here. */
export const toObjectName = (raw: string): string =>
  raw.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 63).replace(/[^a-z0-9]+$/, '') || 'node';

/** As deep as a registration's object nests (its `routes`), with room to spare. */
const MAX_REGISTRATION_NESTING = 16;

/**
 * A name a node may give itself: what toObjectName turns into an object name without losing
 * anything but case and underscores (a host name usually is one). Control characters, direction
 * marks or emoji are refused rather than quietly dropped, which could also make two names one.
 */
const REGISTRATION_NAME = /^(?=.*[A-Za-z0-9])[A-Za-z0-9._-]{1,63}$/;

/** The namespace, object name and spec of a registration; InvalidRegistrationError naming every bad field. */
export function admit(request: RegisterRequest): Admitted {
  const role = (request as { role?: unknown }).role;
  if (role !== 'gateway' && role !== 'instance') {
    throw new InvalidRegistrationError('Registration', typeof request.name === 'string' ? request.name : '', [{ field: 'role', message: `Unsupported value: ${JSON.stringify(role)}: supported values: "gateway", "instance"` }]);
  }
  const given = (request as { name?: unknown }).name;
  if (given !== undefined && (typeof given !== 'string' || !REGISTRATION_NAME.test(given))) {
    const shown = typeof given === 'string' && given.length > 100 ? `${JSON.stringify(given.slice(0, 100))}…` : JSON.stringify(given);
    throw new InvalidRegistrationError(KIND_OF_ROLE[role], '', [{ field: 'name', message: `Invalid value: ${shown}: at most 63 letters, digits, ".", "-" and "_" (lower-cased, it becomes the object name)` }]);
  }
  let namespace: string;
  let name: string;
  let spec: GatewayNodeSpec | ServiceInstanceSpec;
  if (request.role === 'gateway') {
    namespace = DEFAULT_NAMESPACE;
    name = toObjectName(request.name ?? `${request.pool}-${request.zone}-${randomBytes(3).toString('hex')}`);
    spec = { zone: request.zone, pool: request.pool, address: request.address, version: request.version, ...(request.routes ? { routes: request.routes } : {}) };
  } else {
    namespace = request.service?.namespace ?? DEFAULT_NAMESPACE;
    name = toObjectName(request.name ?? `${request.service?.name}-${request.address}-${request.port}`);
    spec = {
      service: request.service?.name,
      address: request.address,
      port: request.port,
      zone: request.zone,
      ...(request.weight !== undefined ? { weight: request.weight } : {}),
      ...(request.version !== undefined ? { version: request.version } : {}),
    } as ServiceInstanceSpec;
  }
  const kind = KIND_OF_ROLE[request.role];
  const object = { apiVersion: GROUP_VERSION, kind, metadata: { name, namespace }, spec };
  // The spec is kept and served as registered (the GatewayNode): nothing nested past the kind, which
  // JSON.stringify could not even write back, and no field the kind does not have (in `routes`).
  const deep = nestingCause(kindDefinition(kind)!.schema, object, MAX_REGISTRATION_NESTING);
  if (deep) throw new InvalidRegistrationError(kind, name, [{ field: deep.field, message: deep.message }]);
  const { causes, unknownFields } = validateResource(object);
  const refused = [...causes.map((cause) => ({ field: cause.field, message: cause.message })), ...unknownFields.map((field) => ({ field, message: 'Unknown field' }))];
  if (refused.length > 0) throw new InvalidRegistrationError(kind, name, refused);
  return { namespace, name, spec };
}

/**
 * Keeps a heartbeat's statistics on the node, with when they came (the self-checks notice when
 * they stop); answers whether they report a breaker that is not closed (a Degraded reason).
 */
export function takeHeartbeatStats(node: Pick<RegisteredNode, 'stats' | 'statsAt'>, stats: HeartbeatStats | undefined, now: number): boolean {
  if (!stats) return false;
  node.stats = stats;
  node.statsAt = now;
  return stats.breakers.some((breaker) => breaker.state !== 'closed');
}
