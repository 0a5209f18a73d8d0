/**
 * Bearer tokens. Static tokens come from PORTOLAN_TOKENS_FILE or PORTOLAN_ADMIN_TOKEN; when neither
 * is set, the first start generates an admin token into `<data dir>/admin.token` (mode 0600) and
 * later starts reuse it. Admins can also mint and revoke tokens through the API; those are kept
 * (api-token-store.ts: embedded database or Consul) as SHA-256 hashes only, so a copy of the store
 * reveals no token. Minted tokens expire (token-expiry.ts); static ones do not.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ApiTokenStore } from './api-token-store';
import { isRole, type Principal, type Role } from './roles';
import { isExpired } from './token-expiry';

export interface TokenInfo {
  id: string;
  name: string;
  role: Role;
  source: 'file' | 'environment' | 'generated' | 'api';
  createdAt?: string;
  createdBy?: string;
  /** RFC 3339; minted tokens only (and not those minted before tokens expired). */
  expiresAt?: string;
}

/**
 * A token checked: who it is, with the hash its sessions are known by (revocation names it) and
 * when it expires; or why it is refused.
 */
export type TokenCheck =
  | { principal: Principal; hash: string; expiresAt?: number }
  | { principal?: undefined; refusal: 'invalid_token' | 'expired_token' };

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
    private readonly clock: () => number = Date.now,
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

  verify(token: string): TokenCheck {
    const digest = hash(token);
    const known = this.staticTokens.get(digest);
    if (known) return { principal: { name: known.name, role: known.role }, hash: digest };
    const record = this.apiTokens.byHash(digest);
    if (!record) return { refusal: 'invalid_token' };
    if (isExpired(record.expiresAt, this.clock())) return { refusal: 'expired_token' };
    return { principal: { name: record.name, role: record.role }, hash: digest, ...(record.expiresAt ? { expiresAt: Date.parse(record.expiresAt) } : {}) };
  }

  list(): TokenInfo[] {
    const stored = this.apiTokens.all().map(
      ({ id, name, role, createdAt, createdBy, expiresAt }): TokenInfo => ({ id, name, role, source: 'api', createdAt, createdBy, ...(expiresAt ? { expiresAt } : {}) }),
    );
    return [...this.staticTokens.values(), ...stored];
  }

  /**
   * Mints a token made at `at.createdAt` that works until `at.expiresAt` (ms since the epoch; the
   * expiry is reckoned from the same instant as the creation); its value is returned once and never stored.
   */
  async create(name: string, role: Role, createdBy: string, at: { createdAt: number; expiresAt: number }): Promise<TokenInfo & { token: string }> {
    const token = newToken();
    const createdAt = new Date(at.createdAt).toISOString();
    const expires = new Date(at.expiresAt).toISOString();
    const id = randomUUID();
    await this.apiTokens.insert({ id, name, role, hash: hash(token), createdAt, createdBy, expiresAt: expires });
    return { id, name, role, source: 'api', createdAt, createdBy, expiresAt: expires, token };
  }

  /** Revokes an API token; static tokens are revoked by changing their configuration. */
  async revoke(id: string): Promise<boolean> {
    return (await this.apiTokens.remove(id)) !== undefined;
  }

  /** The current time as tokens expire by it. */
  now(): number {
    return this.clock();
  }

  /**
   * Calls `listener` with the hash (TokenCheck's) of every minted token revoked from now on,
   * through this replica or another.
   */
  onRevoked(listener: (hash: string) => void): () => void {
    return this.apiTokens.onRemoved((record) => listener(record.hash));
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
