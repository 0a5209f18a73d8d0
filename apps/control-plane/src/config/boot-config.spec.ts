import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BOOT_CONFIG_VARIABLES, readBootConfig } from './boot-config';

describe('readBootConfig', () => {
  it('uses the documented defaults', () => {
    const config = readBootConfig({});
    expect(config).toMatchObject({ host: '127.0.0.1', apiPort: 7443, opsPort: 7080, tlsSans: [], logLevel: 'info' });
    expect(config.dataDir.endsWith('.portolan')).toBe(true);
    expect(config.tokensFile).toBeUndefined();
  });

  it('reads every variable', () => {
    const config = readBootConfig({
      PORTOLAN_DATA_DIR: '/tmp/x',
      PORTOLAN_API_PORT: '0',
      PORTOLAN_OPS_PORT: '-1',
      PORTOLAN_TLS_SANS: 'cp.example.com, 10.0.0.1',
      PORTOLAN_ADMIN_TOKEN: 'secret',
    });
    expect(config).toMatchObject({ dataDir: '/tmp/x', apiPort: 0, opsPort: -1, tlsSans: ['cp.example.com', '10.0.0.1'], adminToken: 'secret' });
  });

  it.each([
    ['PORTOLAN_API_PORT', 'http'],
    ['PORTOLAN_API_PORT', '-1'],
    ['PORTOLAN_OPS_PORT', '70000'],
  ])('rejects %s=%s naming the variable', (name, value) => {
    expect(() => readBootConfig({ [name]: value })).toThrow(new RegExp(`${name}=${value} is not a port`));
  });
});

describe('the Consul backend settings', () => {
  const consul = { PORTOLAN_STORE: 'consul', PORTOLAN_BOOTSTRAP_TOKEN: 'shared-bootstrap' };

  it('reads Consul\'s own variables, defaulting to a local agent', () => {
    expect(readBootConfig(consul).backend).toMatchObject({ kind: 'consul', consul: { address: 'http://127.0.0.1:8500', prefix: 'portolan' }, leaderSessionTtlMs: 15_000, leaderLockDelayMs: 15_000 });
    const tls = readBootConfig({ ...consul, CONSUL_HTTP_ADDR: 'consul.internal:8501', CONSUL_HTTP_SSL: 'true', CONSUL_HTTP_TOKEN: 't', CONSUL_CACERT: '/ca.pem', PORTOLAN_REPLICA_NAME: 'cp-1' });
    expect(tls.backend).toMatchObject({ consul: { address: 'https://consul.internal:8501', token: 't', caFile: '/ca.pem' }, replicaName: 'cp-1' });
  });

  it.each([
    [{ PORTOLAN_STORE: 'etcd' }, /PORTOLAN_STORE=etcd is not a store/],
    [{ PORTOLAN_STORE: 'consul' }, /set PORTOLAN_BOOTSTRAP_TOKEN/],
    [{ ...consul, PORTOLAN_LEADER_SESSION_TTL: '5s' }, /PORTOLAN_LEADER_SESSION_TTL=5s .* 10s to 24h/],
    [{ ...consul, CONSUL_HTTP_ADDR: 'http://' }, /CONSUL_HTTP_ADDR=http:\/\/ is not an address/],
  ])('refuses %o with a message naming the variable', (env, message) => {
    expect(() => readBootConfig(env)).toThrow(message);
  });
});

describe('docs/configuration.md', () => {
  it('lists exactly the variables the code reads, with the same defaults and meanings', () => {
    const doc = readFileSync(join(__dirname, '../../../../docs/configuration.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `((?:PORTOLAN|CONSUL)_[A-Z_]+)` \| (.+?) \| (.+?) \|$/gm)].map(([, name, def, meaning]) => [
      name,
      def === '(none)' ? '' : def.replace(/`/g, ''),
      meaning,
    ]);
    const code = Object.entries(BOOT_CONFIG_VARIABLES).map(([name, v]) => [name, v.default, v.description]);
    expect(rows).toEqual(code);
  });
});
