/**
 * Bearer tokens. Static tokens come from PORTOLAN_TOKENS_FILE or PORTOLAN_ADMIN_TOKEN; when neither
 * is set, the first start generates an admin token into `<data dir>/admin.token` (mode 0600) and
 * later starts reuse it. Admins can also mint and revoke tokens through the API; those are kept
 * (api-token-store.ts: embedded database or Consul) as SHA-256 hashes only, so a copy of the store
 * reveals no token.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ApiTokenStore } from './api-token-store';
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

  constructor(
    sources: TokenSources,
    private readonly apiTokens: ApiTokenStore,
  ) {
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
    const record = this.apiTokens.byHash(digest);
    return record ? { name: record.name, role: record.role } : undefined;
  }

  list(): TokenInfo[] {
    const stored = this.apiTokens.all().map(({ id, name, role, createdAt, createdBy }): TokenInfo => ({ id, name, role, source: 'api', createdAt, createdBy }));
    return [...this.staticTokens.values(), ...stored];
  }

  /** Mints a token; its value is returned once and never stored. */
  async create(name: string, role: Role, createdBy: string): Promise<TokenInfo & { token: string }> {
    const token = newToken();
    const createdAt = new Date().toISOString();
    const id = randomUUID();
    await this.apiTokens.insert({ id, name, role, hash: hash(token), createdAt, createdBy });
    return { id, name, role, source: 'api', createdAt, createdBy, token };
  }

  /** Revokes an API token; static tokens are revoked by changing their configuration. */
  revoke(id: string): Promise<boolean> {
    return this.apiTokens.remove(id);
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
