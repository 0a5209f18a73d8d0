/**
 * Bearer tokens. Static tokens come from PORTOLAN_TOKENS_FILE or PORTOLAN_ADMIN_TOKEN; when neither
 * is set, the first start generates an admin token into `<data dir>/admin.token` (mode 0600) and
 * later starts reuse it. Admins can also mint and revoke tokens through the API; those are kept
 * in the embedded database as SHA-256 hashes only, so a copy of the database reveals no token.
 */
import type Database from 'better-sqlite3';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isRole, type Principal, type Role } from './roles';

export interface TokenInfo {
  id: string;
  name: string;
  role: Role;
  source: 'file' | 'environment' | 'generated' | 'api';
  createdAt?: string;
  createdBy?: string;
}

export class TokenConfigError extends Error {
  readonly code = 'PORTOLAN_TOKEN_CONFIG';
}

const hash = (token: string) => createHash('sha256').update(token).digest('hex');
export const newToken = () => `ptl_${randomBytes(24).toString('base64url')}`;

interface TokenSources {
  dataDir: string;
  tokensFile?: string;
  adminToken?: string;
}

export class TokenService {
  private readonly staticTokens = new Map<string, TokenInfo>();
  /** Where the generated admin token was written, when one was. */
  readonly generatedAdminTokenFile?: string;
  private readonly statements;

  constructor(sources: TokenSources, db: Database.Database) {
    db.exec(
      'CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, created_by TEXT NOT NULL)',
    );
    this.statements = {
      byHash: db.prepare<[string], { id: string; name: string; role: Role; created_at: string; created_by: string }>('SELECT * FROM tokens WHERE hash = ?'),
      all: db.prepare<[], { id: string; name: string; role: Role; created_at: string; created_by: string }>('SELECT * FROM tokens ORDER BY created_at, name'),
      insert: db.prepare<[string, string, string, string, string, string]>('INSERT INTO tokens (id, name, role, hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)'),
      remove: db.prepare<[string]>('DELETE FROM tokens WHERE id = ?'),
    };
    if (sources.tokensFile) this.loadFile(sources.tokensFile);
    if (sources.adminToken) this.addStatic(sources.adminToken, { id: 'env-admin', name: 'admin', role: 'admin', source: 'environment' });
    if (!sources.tokensFile && !sources.adminToken) {
      this.generatedAdminTokenFile = join(sources.dataDir, 'admin.token');
      if (!existsSync(this.generatedAdminTokenFile)) writeFileSync(this.generatedAdminTokenFile, `${newToken()}\n`, { mode: 0o600 });
      const token = readFileSync(this.generatedAdminTokenFile, 'utf8').trim();
      this.addStatic(token, { id: 'generated-admin', name: 'admin', role: 'admin', source: 'generated' });
    }
  }

  authenticate(token: string): Principal | undefined {
    const digest = hash(token);
    const known = this.staticTokens.get(digest);
    if (known) return { name: known.name, role: known.role };
    const row = this.statements.byHash.get(digest);
    return row ? { name: row.name, role: row.role } : undefined;
  }

  list(): TokenInfo[] {
    const stored = this.statements.all.all().map((row): TokenInfo => ({ id: row.id, name: row.name, role: row.role, source: 'api', createdAt: row.created_at, createdBy: row.created_by }));
    return [...this.staticTokens.values(), ...stored];
  }

  /** Mints a token; its value is returned once and never stored. */
  create(name: string, role: Role, createdBy: string): TokenInfo & { token: string } {
    const token = newToken();
    const info: TokenInfo = { id: randomUUID(), name, role, source: 'api', createdAt: new Date().toISOString(), createdBy };
    this.statements.insert.run(info.id, name, role, hash(token), info.createdAt!, createdBy);
    return { ...info, token };
  }

  /** Revokes an API token; static tokens are revoked by changing their configuration. */
  revoke(id: string): boolean {
    return this.statements.remove.run(id).changes > 0;
  }

  private addStatic(token: string, info: TokenInfo): void {
    if (token.length < 16) throw new TokenConfigError(`token "${info.name}" is too short: use at least 16 characters`);
    this.staticTokens.set(hash(token), info);
  }

  private loadFile(file: string): void {
    let document: unknown;
    try {
      document = parseYaml(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new TokenConfigError(`cannot read PORTOLAN_TOKENS_FILE ${file}: ${(error as Error).message}`);
    }
    const tokens = (document as { tokens?: unknown })?.tokens;
    if (!Array.isArray(tokens)) throw new TokenConfigError(`${file}: expected a top-level "tokens" list of {name, role, token}`);
    tokens.forEach((entry: { name?: unknown; role?: unknown; token?: unknown }, index) => {
      if (typeof entry?.name !== 'string' || typeof entry.token !== 'string' || !isRole(entry.role)) {
        throw new TokenConfigError(`${file}: tokens[${index}] needs a name, a token and a role (viewer, editor or admin)`);
      }
      this.addStatic(entry.token, { id: `file-${index}`, name: entry.name, role: entry.role, source: 'file' });
    });
  }
}
