import { describe, expect, it } from 'vitest';
import { downstreamHeaders, upstreamHeaders } from './forwarded-headers.js';

describe('upstreamHeaders', () => {
  it('drops hop-by-hop headers, including those named by Connection, and adds x-forwarded-*', () => {
    const headers = upstreamHeaders(
      { host: 'shop.example.com', connection: 'keep-alive, x-secret', 'keep-alive': 'timeout=5', 'x-secret': '1', 'transfer-encoding': 'chunked', accept: 'text/plain' },
      { remoteAddress: '10.0.0.9', protocol: 'http', host: 'shop.example.com' },
    );
    expect(headers).toEqual({
      host: 'shop.example.com',
      accept: 'text/plain',
      'x-forwarded-for': '10.0.0.9',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'shop.example.com',
    });
  });

  it('appends to an existing x-forwarded-for chain and keeps the original proto and host', () => {
    const headers = upstreamHeaders(
      { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'edge.example.com' },
      { remoteAddress: '10.0.0.9', protocol: 'http', host: 'internal' },
    );
    expect(headers).toMatchObject({ 'x-forwarded-for': '1.2.3.4, 10.0.0.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'edge.example.com' });
  });

  it('does not pass hop-by-hop response headers back', () => {
    expect(downstreamHeaders({ 'content-type': 'a', connection: 'close', 'keep-alive': 'x', 'transfer-encoding': 'chunked' })).toEqual({ 'content-type': 'a' });
  });
});
