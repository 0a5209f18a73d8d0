import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteApiTokenStore } from './api-token-store';
import { TokenConfigError, TokenService } from './token-service';

const dirs: string[] = [];
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
    expect(first.authenticate(token)).toEqual({ name: 'admin', role: 'admin' });
    const again = new TokenService({ dataDir: dir }, new SqliteApiTokenStore(new Database(':memory:')));
    expect(again.authenticate(token)).toEqual({ name: 'admin', role: 'admin' });
    expect(again.authenticate(`${token}x`)).toBeUndefined();
  });

  it('does not generate a token when tokens are configured', () => {
    const service = new TokenService({ dataDir: dataDir(), adminToken: 'configured-admin-token' }, new SqliteApiTokenStore(new Database(':memory:')));
    expect(service.generatedAdminTokenFile).toBeUndefined();
    expect(service.authenticate('configured-admin-token')).toEqual({ name: 'admin', role: 'admin' });
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
    const minted = await service.create('ci', 'editor', 'admin');
    expect(service.authenticate(minted.token)).toEqual({ name: 'ci', role: 'editor' });
    const rows = JSON.stringify(db.prepare('SELECT * FROM tokens').all());
    expect(rows).not.toContain(minted.token);
    expect(await service.revoke(minted.id)).toBe(true);
    expect(service.authenticate(minted.token)).toBeUndefined();
    expect(await service.revoke(minted.id)).toBe(false);
  });
});
