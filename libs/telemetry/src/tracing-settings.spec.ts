import { describe, expect, it } from 'vitest';
import { checkOtlpEndpoint, parseSampleRatio } from './tracing-settings.js';

describe('parseSampleRatio', () => {
  it.each([
    ['0', 0],
    ['0.1', 0.1],
    ['1', 1],
    ['1e-3', 0.001],
  ])('reads %s', (text, ratio) => {
    expect(parseSampleRatio(text)).toBe(ratio);
  });

  it.each(['1.5', '-0.1', '10%', 'often', '', ' ', 'NaN'])('rejects %j, starting the message with the text', (text) => {
    expect(() => parseSampleRatio(text)).toThrow(`${text} is not a number from 0 to 1`);
  });
});

describe('checkOtlpEndpoint', () => {
  it.each(['http://127.0.0.1:4318/v1/traces', 'https://collector.example.com/v1/traces'])('accepts %s', (url) => {
    expect(checkOtlpEndpoint(url)).toBe(url);
  });

  it.each(['127.0.0.1:4318/v1/traces', 'grpc://collector:4317', 'http:///v1/traces', ''])('rejects %j, starting the message with the URL', (url) => {
    expect(() => checkOtlpEndpoint(url)).toThrow(`${url} is not an http:// or https:// URL`);
  });
});
