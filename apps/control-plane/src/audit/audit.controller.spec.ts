import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors/api-error';
import { parseAuditQuery } from './audit.controller';

describe('parseAuditQuery', () => {
  it('takes every filter once, with a limit of 100 unless given', () => {
    expect(parseAuditQuery({})).toEqual({ limit: 100 });
    expect(parseAuditQuery({ actor: 'kubernetes:jane', action: 'token.revoke', kind: 'Token', namespace: 'shop', name: 'ci-bot', since: '2026-03-01t12:00:00z', limit: '1000', continue: 'MDA' })).toEqual({
      actor: 'kubernetes:jane',
      action: 'token.revoke',
      kind: 'Token',
      namespace: 'shop',
      name: 'ci-bot',
      since: '2026-03-01T12:00:00Z',
      limit: 1000,
      continue: 'MDA',
    });
    // An empty parameter is no filter, as in the other read APIs.
    expect(parseAuditQuery({ actor: '' })).toEqual({ limit: 100 });
  });

  it.each([
    [{ limit: '0' }, 'limit'],
    [{ limit: '1001' }, 'limit'],
    [{ limit: '1e2' }, 'limit'],
    [{ since: 'last week' }, 'since'],
    [{ name: ['a', 'b'] }, 'name'],
    [{ verb: 'delete' }, 'verb'],
  ])('refuses %o with a 400 naming %s', (raw, parameter) => {
    try {
      parseAuditQuery(raw);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).status).toMatchObject({ code: 400, details: { causes: [{ field: parameter }] } });
    }
  });
});
