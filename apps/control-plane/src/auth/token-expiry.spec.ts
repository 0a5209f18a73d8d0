import { describe, expect, it } from 'vitest';
import { DEFAULT_TOKEN_LIFETIME_MS, isExpired, MAX_TOKEN_LIFETIME_MS, requestedExpiry } from './token-expiry';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const HOUR = 3_600_000;

describe('requestedExpiry', () => {
  it.each([
    ['nothing: 90 days', {}, NOW + DEFAULT_TOKEN_LIFETIME_MS],
    ['expiresIn 24h', { expiresIn: '24h' }, NOW + 24 * HOUR],
    ['expiresIn 1h30m', { expiresIn: '1h30m' }, NOW + 1.5 * HOUR],
    ['expiresIn 8760h: one year, the most', { expiresIn: '8760h' }, NOW + MAX_TOKEN_LIFETIME_MS],
    ['expiresAt in an hour', { expiresAt: '2026-03-01T13:00:00Z' }, NOW + HOUR],
    ['expiresAt with an offset', { expiresAt: '2026-03-01T14:00:00+01:00' }, NOW + HOUR],
    ['expiresAt exactly a year on', { expiresAt: '2027-03-01T12:00:00Z' }, NOW + MAX_TOKEN_LIFETIME_MS],
  ])('takes %s', (_case, request, expiresAt) => {
    expect(requestedExpiry(request, NOW)).toEqual({ expiresAt });
  });

  it.each([
    ['expiresIn that is no duration', { expiresIn: 'tomorrow' }, 'expiresIn', 'a duration such as 24h'],
    ['expiresIn in days, which durations do not have', { expiresIn: '90d' }, 'expiresIn', 'a duration such as 24h'],
    ['expiresIn as a number', { expiresIn: 3600 }, 'expiresIn', 'a duration such as 24h'],
    ['expiresIn 0s', { expiresIn: '0s' }, 'expiresIn', 'longer than 0s'],
    ['expiresIn past a year', { expiresIn: '8761h' }, 'expiresIn', 'at most 8760h'],
    ['expiresAt that is no time', { expiresAt: 'next week' }, 'expiresAt', 'RFC 3339'],
    ['expiresAt without a zone', { expiresAt: '2026-03-02T12:00:00' }, 'expiresAt', 'RFC 3339'],
    ['expiresAt now', { expiresAt: '2026-03-01T12:00:00Z' }, 'expiresAt', 'in the future'],
    ['expiresAt in the past', { expiresAt: '2020-01-01T00:00:00Z' }, 'expiresAt', 'in the future'],
    ['expiresAt past a year', { expiresAt: '2027-03-01T12:00:01Z' }, 'expiresAt', 'at most one year'],
    ['both', { expiresIn: '1h', expiresAt: '2026-03-01T13:00:00Z' }, 'expiresAt', 'not both'],
  ])('refuses %s, naming the field', (_case, request, field, message) => {
    expect(requestedExpiry(request, NOW)).toEqual({ causes: [{ field, reason: expect.stringMatching(/^Field/), message: expect.stringContaining(message) }] });
  });
});

describe('isExpired', () => {
  it.each([
    ['no expiry (minted before tokens expired)', undefined, NOW, false],
    ['before its expiry', '2026-03-01T12:00:00.001Z', NOW, false],
    ['at its expiry', '2026-03-01T12:00:00.000Z', NOW, true],
    ['after its expiry', '2026-03-01T11:59:59Z', NOW, true],
  ])('a token with %s', (_case, expiresAt, now, expired) => {
    expect(isExpired(expiresAt, now)).toBe(expired);
  });
});
