import { describe, expect, it } from 'vitest';
import { parseSetBy } from './provenance';

describe('parseSetBy', () => {
  it.each([
    ['RetryPolicy/default/checkout-retries@42', { label: 'RetryPolicy/default/checkout-retries', href: '/policies/RetryPolicy/default/checkout-retries', resourceVersion: '42' }],
    ['Route/default/checkout@7', { label: 'Route/default/checkout', resourceVersion: '7' }],
    ['Default', { label: 'Default' }],
    ['Service/default/checkout + registered instances', { label: 'Service/default/checkout + registered instances' }],
    ['-', { label: '-' }],
  ])('%s', (setBy, expected) => {
    expect(parseSetBy(setBy)).toEqual(expected);
  });
});
