import { describe, expect, it } from 'vitest';
import { continueTrace, downstreamHeaders, upstreamHeaders } from './forwarded-headers.js';

const fixedRandom = (bytes: number) => Buffer.alloc(bytes, 0xab);

describe('continueTrace', () => {
  it.each([
    ['keeps the trace id and flags of a valid traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '4bf92f3577b34da6a3ce929d0e0e4736', '01'],
    ['keeps an unsampled flag', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00', '4bf92f3577b34da6a3ce929d0e0e4736', '00'],
    ['starts a trace when there is none', undefined, 'ab'.repeat(16), '01'],
    ['starts a trace on a malformed header', 'garbage', 'ab'.repeat(16), '01'],
    ['starts a trace on an all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, 'ab'.repeat(16), '01'],
  ])('%s', (_name, incoming, traceId, flags) => {
    const trace = continueTrace(incoming, fixedRandom);
    expect(trace.traceId).toBe(traceId);
    expect(trace.traceparent).toBe(`00-${traceId}-${'ab'.repeat(8)}-${flags}`);
  });
});

describe('upstreamHeaders', () => {
  const trace = continueTrace(undefined, fixedRandom);
  it('drops hop-by-hop headers, including those named by Connection, and adds x-forwarded-*', () => {
    const headers = upstreamHeaders(
      { host: 'shop.example.com', connection: 'keep-alive, x-secret', 'keep-alive': 'timeout=5', 'x-secret': '1', 'transfer-encoding': 'chunked', accept: 'text/plain' },
      { remoteAddress: '10.0.0.9', protocol: 'http', host: 'shop.example.com' },
      trace,
    );
    expect(headers).toEqual({
      host: 'shop.example.com',
      accept: 'text/plain',
      'x-forwarded-for': '10.0.0.9',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'shop.example.com',
      traceparent: trace.traceparent,
    });
  });

  it('appends to an existing x-forwarded-for chain and keeps the original proto and host', () => {
    const headers = upstreamHeaders(
      { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'edge.example.com' },
      { remoteAddress: '10.0.0.9', protocol: 'http', host: 'internal' },
      trace,
    );
    expect(headers).toMatchObject({ 'x-forwarded-for': '1.2.3.4, 10.0.0.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'edge.example.com' });
  });

  it('does not pass hop-by-hop response headers back', () => {
    expect(downstreamHeaders({ 'content-type': 'a', connection: 'close', 'keep-alive': 'x', 'transfer-encoding': 'chunked' })).toEqual({ 'content-type': 'a' });
  });
});
