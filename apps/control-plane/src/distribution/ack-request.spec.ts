import { describe, expect, it } from 'vitest';
import { InvalidAckError, MAX_NACK_ERRORS, MAX_NACK_ERRORS_BYTES, MAX_NACK_MESSAGE_CHARS, readAckRequest } from './ack-request';

const ack = { version: 'v1', revision: 7, status: 'ACK' };

describe('readAckRequest', () => {
  it('reads an ACK and a NACK as sent', () => {
    expect(readAckRequest(ack)).toEqual(ack);
    const nack = { ...ack, status: 'NACK', errors: [{ resource: 'Route/default/orders', field: 'spec.match.headers[0].value', message: 'invalid regex' }] };
    expect(readAckRequest(nack)).toEqual(nack);
  });

  it('keeps the first errors of a NACK that lists very many, each message cut to a bounded length', () => {
    const errors = Array.from({ length: 500 }, (_, index) => ({ resource: `Route/default/r${index}`, message: 'x'.repeat(5_000) }));
    const read = readAckRequest({ ...ack, status: 'NACK', errors });
    expect(read.errors).toHaveLength(MAX_NACK_ERRORS);
    expect(read.errors![0].resource).toBe('Route/default/r0');
    expect(read.errors![0].message).toBe(`${'x'.repeat(MAX_NACK_MESSAGE_CHARS)}…`);
  });

  it('keeps no more errors than fit in a bounded size, however the texts escape in JSON', () => {
    const control = '\u0001'.repeat(5_000);
    const errors = Array.from({ length: MAX_NACK_ERRORS }, () => ({ resource: control, field: control, message: control }));
    const read = readAckRequest({ ...ack, status: 'NACK', errors });
    expect(read.errors!.length).toBeGreaterThanOrEqual(1);
    expect(read.errors!.length).toBeLessThan(MAX_NACK_ERRORS);
    expect(Buffer.byteLength(JSON.stringify(read.errors))).toBeLessThanOrEqual(MAX_NACK_ERRORS_BYTES + 3 * 6 * (MAX_NACK_MESSAGE_CHARS + 1));
  });

  it.each([
    ['not an object', 'ACK', 'an ACK is {"version": string'],
    ['no version', { revision: 1, status: 'ACK' }, 'an ACK is {"version": string'],
    ['another status', { ...ack, status: 'MAYBE' }, '"status": "ACK" | "NACK"'],
    ['a version longer than any the control plane sends', { ...ack, version: 'v'.repeat(300) }, 'version: must be at most 256 characters'],
    ['a revision that is not a whole number', { ...ack, revision: 1.5 }, 'revision: must be a whole number of at least 0, not 1.5'],
    ['errors not a list', { ...ack, status: 'NACK', errors: 'broken' }, 'errors: must be a list'],
    ['an error without a message', { ...ack, status: 'NACK', errors: [{ resource: 'Route/default/a' }] }, 'errors[0]: must be {"resource": string, "field"?: string, "message": string}'],
    ['a field that is not text', { ...ack, status: 'NACK', errors: [{ resource: 'Route/default/a', message: 'm' }, { resource: 'r', message: 'm', field: 3 }] }, 'errors[1]:'],
  ])('refuses %s, saying what an ACK is', (_, body, message) => {
    expect(() => readAckRequest(body)).toThrow(InvalidAckError);
    expect(() => readAckRequest(body)).toThrow(message);
  });
});
