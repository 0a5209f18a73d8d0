/**
 * Roles and what they may do. viewer reads; editor also writes mesh resources; admin may do
 * everything, tokens included. Every route declares the least role it needs with @Access; a route
 * without the decorator needs admin, so a forgotten annotation fails closed.
 */
import { SetMetadata } from '@nestjs/common';
import { USER_ROLES, type UserRole } from '@portolan/api';

export const ROLES = USER_ROLES;
export type Role = UserRole;
/**
 * Besides user roles: `bootstrap` routes take the bootstrap token (or an admin's), `node` routes
 * take the credential of the node named by the route's `:id`.
 */
export type AccessLevel = 'public' | Role | 'bootstrap' | 'node';

export const ACCESS_METADATA = 'portolan:access';
export const Access = (level: AccessLevel) => SetMetadata(ACCESS_METADATA, level);

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Whether `role` may use a route that requires `needed` (a user role, or public). */
export function allows(role: Role, needed: 'public' | Role): boolean {
  return needed === 'public' || ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export interface Principal {
  name: string;
  role: Role;
}
