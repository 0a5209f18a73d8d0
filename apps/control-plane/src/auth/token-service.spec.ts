import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteApiTokenStore } from './api-token-store';
import { TokenConfigError, TokenService } from './token-service';

const dirs: string[] = [];
const hourFromNow = () => ({ createdAt: Date.now(), expiresAt: Date.now() + 3_600_000 });
const dataDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'portolan-tokens-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

describe('TokenService', () => {
  it('generates an admin token on first start, readable only by its owner, and reuses it', () => {
    const dir = dataDir();
    const first = new TokenService({ dataDir: dir }, new SqliteApiTokenStore(new Database(':memory:')));
    const token = readFileSync(first.generatedAdminTokenFile!, 'utf8').trim();
    expect(statSync(first.generatedAdminTokenFile!).mode & 0o777).toBe(0o600);
    expect(first.verify(token).principal).toEqual({ name: 'admin', role: 'admin' });
    const again = new TokenService({ dataDir: dir }, new SqliteApiTokenStore(new Database(':memory:')));
    expect(again.verify(token).principal).toEqual({ name: 'admin', role: 'admin' });
    expect(again.verify(`${token}x`)).toEqual({ refusal: 'invalid_token' });
  });

  it('does not generate a token when tokens are configured', () => {
    const service = new TokenService({ dataDir: dataDir(), adminToken: 'configured-admin-token' }, new SqliteApiTokenStore(new Database(':memory:')));
    expect(service.generatedAdminTokenFile).toBeUndefined();
    expect(service.verify('configured-admin-token').principal).toEqual({ name: 'admin', role: 'admin' });
  });

  it.each([
    ['not YAML', 'tokens: [unclosed', /cannot read PORTOLAN_TOKENS_FILE/],
    ['no tokens list', 'users: []', /expected a top-level "tokens" list/],
    ['an unknown role', 'tokens: [{name: a, role: root, token: aaaaaaaaaaaaaaaaaaaa}]', /tokens\[0\] needs a name, a token and a role/],
    ['a short token', 'tokens: [{name: a, role: viewer, token: short}]', /token "a" is too short/],
  ])('refuses a tokens file with %s, with a clear error', (_case, content, message) => {
    const dir = dataDir();
    writeFileSync(join(dir, 'tokens.yaml'), content);
    expect(() => new TokenService({ dataDir: dir, tokensFile: join(dir, 'tokens.yaml') }, new SqliteApiTokenStore(new Database(':memory:')))).toThrow(TokenConfigError);
    expect(() => new TokenService({ dataDir: dir, tokensFile: join(dir, 'tokens.yaml') }, new SqliteApiTokenStore(new Database(':memory:')))).toThrow(message);
  });

  it('keeps only hashes of minted tokens', async () => {
    const db = new Database(':memory:');
    const service = new TokenService({ dataDir: dataDir(), adminToken: 'configured-admin-token' }, new SqliteApiTokenStore(db));
    const minted = await service.create('ci', 'editor', 'admin', hourFromNow());
    expect(service.verify(minted.token).principal).toEqual({ name: 'ci', role: 'editor' });
    const rows = JSON.stringify(db.prepare('SELECT * FROM tokens').all());
    expect(rows).not.toContain(minted.token);
    expect(await service.revoke(minted.id)).toBe(true);
    expect(service.verify(minted.token)).toEqual({ refusal: 'invalid_token' });
    expect(await service.revoke(minted.id)).toBe(false);
  });

  it('refuses a minted token from its expiry on, as expired, and lists when each expires; static tokens never expire', async () => {
    let now = Date.parse('2026-03-01T00:00:00Z');
    const service = new TokenService({ dataDir: dataDir(), adminToken: 'configured-admin-token' }, new SqliteApiTokenStore(new Database(':memory:')), () => now);
    const minted = await service.create('ci', 'viewer', 'admin', { createdAt: now, expiresAt: now + 3_600_000 });
    expect(minted).toMatchObject({ createdAt: '2026-03-01T00:00:00.000Z', expiresAt: '2026-03-01T01:00:00.000Z' });
    expect(service.list().find((token) => token.id === minted.id)?.expiresAt).toBe('2026-03-01T01:00:00.000Z');
    expect(service.list().find((token) => token.source === 'environment')?.expiresAt).toBeUndefined();
    now += 3_600_000 - 1;
    expect(service.verify(minted.token)).toMatchObject({ principal: { name: 'ci' }, expiresAt: Date.parse('2026-03-01T01:00:00Z') });
    now += 1;
    expect(service.verify(minted.token)).toEqual({ refusal: 'expired_token' });
    now += 10 * 365 * 86_400_000;
    expect(service.verify('configured-admin-token').principal).toEqual({ name: 'admin', role: 'admin' });
  });

  it('tells its listeners the hash of each revoked token, the one verify gave the token\'s sessions', async () => {
    const service = new TokenService({ dataDir: dataDir(), adminToken: 'configured-admin-token' }, new SqliteApiTokenStore(new Database(':memory:')));
    const revoked: string[] = [];
    service.onRevoked((hash) => revoked.push(hash));
    const [kept, gone] = [await service.create('kept', 'viewer', 'admin', hourFromNow()), await service.create('gone', 'viewer', 'admin', hourFromNow())];
    const goneHash = (service.verify(gone.token) as { hash: string }).hash;
    expect(goneHash).not.toBe((service.verify(kept.token) as { hash: string }).hash);
    await service.revoke(gone.id);
    await service.revoke('no-such-token');
    expect(revoked).toEqual([goneHash]);
  });
});

describe('SqliteApiTokenStore on a database from before tokens expired', () => {
  it('adds the expiry column and keeps the old tokens working, without an expiry', async () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, created_by TEXT NOT NULL)');
    const legacyToken = 'ptl_minted-before-tokens-expired';
    const legacyHash = createHash('sha256').update(legacyToken).digest('hex');
    db.prepare('INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?)').run('old', 'legacy', 'editor', legacyHash, '2025-01-01T00:00:00.000Z', 'admin');
    const store = new SqliteApiTokenStore(db);
    await store.insert({ id: 'new', name: 'fresh', role: 'viewer', hash: 'hash-new', createdAt: '2026-01-01T00:00:00.000Z', createdBy: 'admin', expiresAt: '2026-04-01T00:00:00.000Z' });
    expect(new SqliteApiTokenStore(db).all().map((token) => [token.id, token.expiresAt])).toEqual([['old', undefined], ['new', '2026-04-01T00:00:00.000Z']]);
    const service = new TokenService({ dataDir: dataDir(), adminToken: 'configured-admin-token' }, store, () => Date.parse('2099-01-01T00:00:00Z'));
    expect(service.verify(legacyToken).principal).toEqual({ name: 'legacy', role: 'editor' });
    expect(service.list().find((token) => token.id === 'old')).toEqual({ id: 'old', name: 'legacy', role: 'editor', source: 'api', createdAt: '2025-01-01T00:00:00.000Z', createdBy: 'admin' });
  });
});
