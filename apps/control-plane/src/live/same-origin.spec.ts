import { describe, expect, it } from 'vitest';
import { isForeignOrigin } from './same-origin';

describe('isForeignOrigin', () => {
  it.each([
    ['no Origin: not a browser', undefined, 'cp.example.com:7443', false],
    ['its own dashboard', 'https://cp.example.com:7443', 'cp.example.com:7443', false],
    ['its own dashboard, host in other case', 'https://CP.example.com:7443', 'cp.example.com:7443', false],
    ['the default port written out on one side', 'https://cp.example.com', 'cp.example.com:443', false],
    ['an IPv6 host', 'https://[::1]:7443', '[::1]:7443', false],
    ['another site', 'https://evil.example', 'cp.example.com:7443', true],
    ['another port of the same host', 'https://cp.example.com:8443', 'cp.example.com:7443', true],
    ['the same host over plain HTTP', 'http://cp.example.com:7443', 'cp.example.com:7443', true],
    ['a sandboxed frame or file:// page', 'null', 'cp.example.com:7443', true],
    ['an Origin without a Host', 'https://cp.example.com:7443', undefined, true],
  ])('%s', (_case, origin, host, foreign) => {
    expect(isForeignOrigin(origin, host)).toBe(foreign);
  });
});
