import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GATEWAY_SETTINGS, readGatewayConfig } from './config.js';

const docs = readFileSync(new URL('../../../docs/gateway.md', import.meta.url), 'utf8');

describe('readGatewayConfig', () => {
  it('documents every setting in docs/gateway.md with its variable and default', () => {
    for (const [flag, setting] of Object.entries(GATEWAY_SETTINGS)) {
      const shownDefault = setting.default === '' ? '(none)' : `\`${setting.default}\``;
      expect(docs).toContain(`| \`--${flag}\` | \`${setting.env}\` | ${shownDefault} | ${setting.description} |`);
    }
  });

  it('reads flags over environment variables', () => {
    const config = readGatewayConfig(['--zone', 'zone-b', '--listen=0.0.0.0:0'], { PORTOLAN_GATEWAY_ZONE: 'zone-a', PORTOLAN_BOOTSTRAP_TOKEN: 't', PORTOLAN_GATEWAY_POOL: 'edge' });
    expect(config).toMatchObject({ zone: 'zone-b', pool: 'edge', listen: { host: '0.0.0.0', port: 0 }, bootstrapToken: 't', drainTimeoutMs: 30_000, transport: 'auto' });
  });

  it.each([
    [['--zone'], {}, '--zone needs a value'],
    [['--colour', 'red'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, 'unknown flag --colour'],
    [['--listen', 'nowhere'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, '--listen nowhere is not host:port'],
    [['--drain-timeout', 'soon'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, '--drain-timeout soon is not a duration'],
    [['--transport', 'pigeon'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, '--transport pigeon is not one of'],
    [[], {}, 'no bootstrap token'],
  ])('rejects %j with a message naming the setting', (argv, env, message) => {
    expect(() => readGatewayConfig(argv, env)).toThrow(message);
  });
});
