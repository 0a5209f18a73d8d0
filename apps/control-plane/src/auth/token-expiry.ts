/**
 * When a token minted through the API stops working. It lives 90 days unless the admin who mints
 * it asks for another lifetime, and at most a year: a credential that never expires outlives the
 * person or job it was made for, which is why Kubernetes binds service-account tokens to a lifetime
 * and Consul gives ACL tokens an ExpirationTTL. Static tokens (file, environment, generated) are the
 * operator's configuration and do not expire.
 */
import { isDuration, parseDuration, parseTime, type StatusCause } from '@portolan/api';

const DAY_MS = 86_400_000;
export const DEFAULT_TOKEN_LIFETIME_MS = 90 * DAY_MS;
export const MAX_TOKEN_LIFETIME_MS = 365 * DAY_MS;

/** What a mint request may say about expiry: a duration from now, or a time. */
export interface ExpiryRequest {
  expiresIn?: unknown;
  expiresAt?: unknown;
}

/** The expiry (milliseconds since the epoch) a mint request asks for, or why it cannot have it. */
export function requestedExpiry(request: ExpiryRequest, now: number): { expiresAt: number } | { causes: StatusCause[] } {
  const { expiresIn, expiresAt } = request;
  if (expiresIn !== undefined && expiresAt !== undefined) {
    return { causes: [{ field: 'expiresAt', reason: 'FieldValueForbidden', message: 'Forbidden: give expiresIn or expiresAt, not both' }] };
  }
  if (expiresIn !== undefined) {
    const lifetime = typeof expiresIn === 'string' && isDuration(expiresIn) ? parseDuration(expiresIn) : undefined;
    if (lifetime === undefined) return { causes: [{ field: 'expiresIn', reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(expiresIn)}: a duration such as 24h or 720h` }] };
    if (lifetime <= 0) return { causes: [{ field: 'expiresIn', reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(expiresIn)}: must be longer than 0s` }] };
    if (lifetime > MAX_TOKEN_LIFETIME_MS) {
      return { causes: [{ field: 'expiresIn', reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(expiresIn)}: must be at most 8760h (one year)` }] };
    }
    return { expiresAt: now + lifetime };
  }
  if (expiresAt !== undefined) {
    const time = typeof expiresAt === 'string' ? parseTime(expiresAt) : undefined;
    if (!time) return { causes: [{ field: 'expiresAt', reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(expiresAt)}: an RFC 3339 time such as 2027-01-31T12:00:00Z` }] };
    if (time.ms <= now) return { causes: [{ field: 'expiresAt', reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(expiresAt)}: must be in the future` }] };
    if (time.ms > now + MAX_TOKEN_LIFETIME_MS) {
      return { causes: [{ field: 'expiresAt', reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(expiresAt)}: must be at most one year from now` }] };
    }
    return { expiresAt: time.ms };
  }
  return { expiresAt: now + DEFAULT_TOKEN_LIFETIME_MS };
}

/** Whether a token with this expiry (RFC 3339; none for tokens minted before expiry existed) no longer works at `now`. */
export function isExpired(expiresAt: string | undefined, now: number): boolean {
  return expiresAt !== undefined && Date.parse(expiresAt) <= now;
}
