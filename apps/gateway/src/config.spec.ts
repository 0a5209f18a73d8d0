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
    expect(config).toMatchObject({ zone: 'zone-b', pool: 'edge', listen: { host: '0.0.0.0', port: 0 }, bootstrapToken: 't', drainTimeoutMs: 30_000, transport: 'auto', reconnectMaxMs: 30_000 });
    expect(readGatewayConfig(['--reconnect-max', '2m'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }).reconnectMaxMs).toBe(120_000);
  });

  it('reads the tracing settings, falling back to the standard OpenTelemetry endpoint variable', () => {
    const env = { PORTOLAN_BOOTSTRAP_TOKEN: 't', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector.example.com/v1/traces' };
    expect(readGatewayConfig([], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }).tracing).toEqual({ endpoint: '', protocol: 'http/protobuf', sampleRatio: 0.1, slowThresholdMs: 1_000 });
    expect(readGatewayConfig([], env).tracing.endpoint).toBe('https://collector.example.com/v1/traces');
    expect(readGatewayConfig(['--otlp-endpoint', 'http://127.0.0.1:7080/v1/traces', '--otlp-protocol', 'http/json', '--trace-sampling', '1', '--trace-slow-threshold', '250ms'], env).tracing).toEqual({
      endpoint: 'http://127.0.0.1:7080/v1/traces',
      protocol: 'http/json',
      sampleRatio: 1,
      slowThresholdMs: 250,
    });
    expect(readGatewayConfig(['--trace-sampling', '0'], env).tracing.sampleRatio).toBe(0);
  });

  it.each([
    [['--zone'], {}, '--zone needs a value'],
    [['--trace-sampling', '1.5'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, '--trace-sampling 1.5 is not a number from 0 to 1'],
    [['--trace-sampling', '-0.1'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, '--trace-sampling -0.1 is not a number from 0 to 1'],
    [['--trace-sampling', 'often'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, '--trace-sampling often is not a number from 0 to 1'],
    [['--trace-sampling', ' '], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, '--trace-sampling   is not a number from 0 to 1'],
    [[], { PORTOLAN_BOOTSTRAP_TOKEN: 't', PORTOLAN_GATEWAY_TRACE_SAMPLING: '10%' }, '--trace-sampling 10% is not a number from 0 to 1'],
    [['--otlp-protocol', 'grpc'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, '--otlp-protocol grpc is not one of http/protobuf, http/json'],
    [['--otlp-endpoint', '127.0.0.1:4318'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, '--otlp-endpoint 127.0.0.1:4318 is not an http:// or https:// URL'],
    [[], { PORTOLAN_BOOTSTRAP_TOKEN: 't', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=collector:4318 is not an http:// or https:// URL'],
    [['--trace-slow-threshold', 'slow'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, '--trace-slow-threshold slow is not a duration'],
    [['--colour', 'red'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, 'unknown flag --colour'],
    [['--listen', 'nowhere'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, '--listen nowhere is not host:port'],
    [['--drain-timeout', 'soon'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, '--drain-timeout soon is not a duration'],
    [['--transport', 'pigeon'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, '--transport pigeon is not one of'],
    [['--reconnect-max', '0s'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, '--reconnect-max 0s is below the first wait of 1000 ms'],
    [['--reconnect-max', 'later'], { PORTOLAN_BOOTSTRAP_TOKEN: 't' }, '--reconnect-max later is not a duration'],
    [[], {}, 'no bootstrap token'],
  ])('rejects %j with a message naming the setting', (argv, env, message) => {
    expect(() => readGatewayConfig(argv, env)).toThrow(message);
  });
});
