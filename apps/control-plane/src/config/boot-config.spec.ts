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

  it('takes the operator\'s CA as a pair of files, and says which one is missing', () => {
    expect(readBootConfig({}).tlsCa).toBeUndefined();
    expect(readBootConfig({ PORTOLAN_TLS_CA_CERT_FILE: '/etc/portolan/ca.crt', PORTOLAN_TLS_CA_KEY_FILE: '/etc/portolan/ca.key' }).tlsCa).toEqual({ certFile: '/etc/portolan/ca.crt', keyFile: '/etc/portolan/ca.key' });
    expect(() => readBootConfig({ PORTOLAN_TLS_CA_CERT_FILE: '/etc/portolan/ca.crt' })).toThrow('PORTOLAN_TLS_CA_KEY_FILE is not set');
    expect(() => readBootConfig({ PORTOLAN_TLS_CA_KEY_FILE: '/etc/portolan/ca.key' })).toThrow('PORTOLAN_TLS_CA_CERT_FILE is not set');
  });

  it.each([
    ['PORTOLAN_API_PORT', 'http'],
    ['PORTOLAN_API_PORT', '-1'],
    ['PORTOLAN_OPS_PORT', '70000'],
  ])('rejects %s=%s naming the variable', (name, value) => {
    expect(() => readBootConfig({ [name]: value })).toThrow(new RegExp(`${name}=${value} is not a port`));
  });
});

describe('the audit log settings', () => {
  it('keep 100,000 entries for 90 days unless told otherwise', () => {
    expect(readBootConfig({}).audit).toEqual({ maxEntries: 100_000, maxAgeMs: 90 * 24 * 3_600_000 });
    expect(readBootConfig({ PORTOLAN_AUDIT_MAX_ENTRIES: '5000', PORTOLAN_AUDIT_MAX_AGE: '720h' }).audit).toEqual({ maxEntries: 5000, maxAgeMs: 720 * 3_600_000 });
  });

  it.each([
    [{ PORTOLAN_AUDIT_MAX_ENTRIES: '0' }, /PORTOLAN_AUDIT_MAX_ENTRIES=0 is not a positive whole number/],
    [{ PORTOLAN_AUDIT_MAX_AGE: '90d' }, /PORTOLAN_AUDIT_MAX_AGE=90d is not a duration/],
    [{ PORTOLAN_AUDIT_MAX_AGE: '30s' }, /PORTOLAN_AUDIT_MAX_AGE=30s is too short/],
  ])('refuses %o naming the variable', (env, message) => {
    expect(() => readBootConfig(env)).toThrow(message);
  });
});

describe('the lockout after failed authentications', () => {
  it('defaults to 20 failures a minute locking an address out for a minute, and reads each setting', () => {
    expect(readBootConfig({}).authLockout).toEqual({ maxFailures: 20, windowMs: 60_000, blockMs: 60_000 });
    expect(readBootConfig({ PORTOLAN_AUTH_FAILURE_LIMIT: '100', PORTOLAN_AUTH_FAILURE_WINDOW: '5m', PORTOLAN_AUTH_LOCKOUT: '15m' }).authLockout).toEqual({ maxFailures: 100, windowMs: 300_000, blockMs: 900_000 });
  });

  it.each([
    [{ PORTOLAN_AUTH_FAILURE_LIMIT: '0' }, /PORTOLAN_AUTH_FAILURE_LIMIT=0 is not a positive whole number/],
    [{ PORTOLAN_AUTH_FAILURE_LIMIT: 'many' }, /PORTOLAN_AUTH_FAILURE_LIMIT=many is not a positive whole number/],
    [{ PORTOLAN_AUTH_FAILURE_WINDOW: '0s' }, /PORTOLAN_AUTH_FAILURE_WINDOW=0s is too short/],
    [{ PORTOLAN_AUTH_LOCKOUT: 'forever' }, /PORTOLAN_AUTH_LOCKOUT=forever is not a duration/],
  ])('refuses %o naming the variable', (env, message) => {
    expect(() => readBootConfig(env)).toThrow(message);
  });
});

describe('the dashboard directory', () => {
  it('defaults to the dashboard build of the same checkout, and resolves a configured one', () => {
    expect(readBootConfig({}).dashboardDir).toBe(join(__dirname, '../../../dashboard/dist'));
    expect(readBootConfig({}).dashboardDir.endsWith(join('apps', 'dashboard', 'dist'))).toBe(true);
    expect(readBootConfig({ PORTOLAN_DASHBOARD_DIR: '/srv/portolan-ui' }).dashboardDir).toBe('/srv/portolan-ui');
    expect(readBootConfig({ PORTOLAN_DASHBOARD_DIR: 'ui-build' }).dashboardDir).toBe(join(process.cwd(), 'ui-build'));
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

describe('the trace backend settings', () => {
  it('defaults to the embedded store with the documented bounds', () => {
    expect(readBootConfig({}).tracing).toEqual({ kind: 'embedded', maxTraces: 10_000, maxBytes: 64 * 1024 * 1024, maxAgeMs: 3_600_000, slowThresholdMs: 1_000 });
  });

  it.each([
    ['1048576', 1_048_576],
    ['512Ki', 524_288],
    ['64Mi', 67_108_864],
    ['64MiB', 67_108_864],
    ['1Gi', 1_073_741_824],
  ])('reads PORTOLAN_TRACE_STORE_MAX_BYTES=%s as %d bytes', (raw, expected) => {
    expect(readBootConfig({ PORTOLAN_TRACE_STORE_MAX_BYTES: raw }).tracing).toMatchObject({ maxBytes: expected });
  });

  it('reads Jaeger\'s query URL', () => {
    expect(readBootConfig({ PORTOLAN_TRACE_BACKEND: 'jaeger', PORTOLAN_JAEGER_QUERY_URL: 'http://jaeger-query:16686/' }).tracing).toEqual({ kind: 'jaeger', queryUrl: 'http://jaeger-query:16686' });
  });

  it.each([
    [{ PORTOLAN_TRACE_BACKEND: 'tempo' }, /PORTOLAN_TRACE_BACKEND=tempo is not a trace backend/],
    [{ PORTOLAN_TRACE_BACKEND: 'jaeger' }, /set PORTOLAN_JAEGER_QUERY_URL/],
    [{ PORTOLAN_TRACE_BACKEND: 'jaeger', PORTOLAN_JAEGER_QUERY_URL: 'jaeger:16686' }, /PORTOLAN_JAEGER_QUERY_URL=jaeger:16686 is not an http\(s\) URL/],
    [{ PORTOLAN_TRACE_STORE_MAX_BYTES: '64MB' }, /PORTOLAN_TRACE_STORE_MAX_BYTES=64MB is not a size/],
    [{ PORTOLAN_TRACE_STORE_MAX_BYTES: '0' }, /PORTOLAN_TRACE_STORE_MAX_BYTES=0 is not a size/],
    [{ PORTOLAN_TRACE_STORE_MAX_TRACES: '1.5' }, /PORTOLAN_TRACE_STORE_MAX_TRACES=1.5 is not a positive whole number/],
    [{ PORTOLAN_TRACE_STORE_MAX_AGE: 'an hour' }, /PORTOLAN_TRACE_STORE_MAX_AGE=an hour is not a duration/],
    [{ PORTOLAN_TRACE_SLOW_THRESHOLD: '1d' }, /PORTOLAN_TRACE_SLOW_THRESHOLD=1d is not a duration/],
  ])('refuses %o with a message naming the variable', (env, message) => {
    expect(() => readBootConfig(env)).toThrow(message);
  });
});

describe('the settings of the control plane\'s own spans', () => {
  it('samples a tenth of new traces into the trace backend by default', () => {
    expect(readBootConfig({}).selfTracing).toEqual({ sampleRatio: 0.1, otlpEndpoint: undefined });
  });

  it('reads the ratio and OpenTelemetry\'s traces endpoint', () => {
    expect(readBootConfig({ PORTOLAN_TRACE_SAMPLING: '0', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://otel-collector:4318/v1/traces' }).selfTracing).toEqual({
      sampleRatio: 0,
      otlpEndpoint: 'http://otel-collector:4318/v1/traces',
    });
    expect(readBootConfig({ PORTOLAN_TRACE_SAMPLING: '1' }).selfTracing.sampleRatio).toBe(1);
  });

  it.each([
    [{ PORTOLAN_TRACE_SAMPLING: '1.5' }, /PORTOLAN_TRACE_SAMPLING=1.5 is not a number from 0 to 1/],
    [{ PORTOLAN_TRACE_SAMPLING: '-0.1' }, /PORTOLAN_TRACE_SAMPLING=-0.1 is not a number from 0 to 1/],
    [{ PORTOLAN_TRACE_SAMPLING: '10%' }, /PORTOLAN_TRACE_SAMPLING=10% is not a number from 0 to 1/],
    [{ PORTOLAN_TRACE_SAMPLING: ' ' }, /PORTOLAN_TRACE_SAMPLING=  is not a number from 0 to 1/],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'otel-collector:4318' }, /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=otel-collector:4318 is not an http:\/\/ or https:\/\/ URL/],
  ])('refuses %o with a message naming the variable', (env, message) => {
    expect(() => readBootConfig(env)).toThrow(message);
  });
});

describe('the change history settings', () => {
  it('keep an hour of changes and 10 per object, compacting every 5 minutes, by default', () => {
    expect(readBootConfig({}).history).toEqual({ retentionMs: 3_600_000, compactionIntervalMs: 300_000, keepPerObject: 10 });
  });

  it('reads each variable; 0s never compacts', () => {
    expect(readBootConfig({ PORTOLAN_CHANGE_RETENTION: '1s', PORTOLAN_COMPACTION_INTERVAL: '0s', PORTOLAN_HISTORY_LIMIT: '1' }).history).toEqual({
      retentionMs: 1_000,
      compactionIntervalMs: 0,
      keepPerObject: 1,
    });
  });

  it.each([
    [{ PORTOLAN_CHANGE_RETENTION: '1d' }, /PORTOLAN_CHANGE_RETENTION=1d is not a duration/],
    [{ PORTOLAN_COMPACTION_INTERVAL: '300' }, /PORTOLAN_COMPACTION_INTERVAL=300 is not a duration/],
    [{ PORTOLAN_HISTORY_LIMIT: '0' }, /PORTOLAN_HISTORY_LIMIT=0 is not a positive whole number/],
    [{ PORTOLAN_HISTORY_LIMIT: 'ten' }, /PORTOLAN_HISTORY_LIMIT=ten is not a positive whole number/],
  ])('refuses %o with a message naming the variable', (env, message) => {
    expect(() => readBootConfig(env)).toThrow(message);
  });
});

describe('the Kubernetes aggregation-layer settings', () => {
  it('default to bearer tokens only, touching no APIService', () => {
    expect(readBootConfig({}).kubernetes).toEqual({ authentication: 'off' });
  });

  it('read delegated authentication, the APIService and the kubeconfig they share with the scaler', () => {
    const config = readBootConfig({ PORTOLAN_KUBERNETES_AUTH: 'delegated', PORTOLAN_APISERVICE_NAME: 'v1alpha1.mesh.portolan.dev', PORTOLAN_KUBECONFIG: 'kube/config' });
    expect(config.kubernetes).toEqual({ authentication: 'delegated', apiServiceName: 'v1alpha1.mesh.portolan.dev', kubeconfigFile: join(process.cwd(), 'kube/config') });
    expect(config.autoscaling.kubeconfigFile).toBe(config.kubernetes.kubeconfigFile);
  });

  it.each([
    [{ PORTOLAN_KUBERNETES_AUTH: 'webhook' }, /PORTOLAN_KUBERNETES_AUTH=webhook is not an authentication mode: use off .* or delegated/],
    [{ PORTOLAN_APISERVICE_NAME: 'v1.mesh.portolan.dev' }, /PORTOLAN_APISERVICE_NAME=v1.mesh.portolan.dev is not the APIService of mesh.portolan.dev\/v1alpha1: use v1alpha1.mesh.portolan.dev/],
  ])('refuses %o with a message naming the variable and what to use', (env, message) => {
    expect(() => readBootConfig(env)).toThrow(message);
  });
});
