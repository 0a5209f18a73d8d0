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

describe('docs/configuration.md', () => {
  it('lists exactly the variables the code reads, with the same defaults and meanings', () => {
    const doc = readFileSync(join(__dirname, '../../../../docs/configuration.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `(PORTOLAN_[A-Z_]+)` \| (.+?) \| (.+?) \|$/gm)].map(([, name, def, meaning]) => [
      name,
      def === '(none)' ? '' : def.replace(/`/g, ''),
      meaning,
    ]);
    const code = Object.entries(BOOT_CONFIG_VARIABLES).map(([name, v]) => [name, v.default, v.description]);
    expect(rows).toEqual(code);
  });
});
