/**
 * The checks of the tracing settings every service reads from its flags or environment, so the
 * gateway, the control plane and `createTracing` accept exactly the same values. They throw a
 * plain Error whose message starts with the value; each caller prefixes it with the name of its
 * own flag or variable and throws its own error type.
 */

/** A share of traces, from 0 to 1. */
export function parseSampleRatio(text: string): number {
  // Number('') and Number(' ') are 0: a blank setting is a mistake, not a request to sample nothing.
  const ratio = text.trim() === '' ? Number.NaN : Number(text);
  if (!(ratio >= 0 && ratio <= 1)) throw new Error(`${text} is not a number from 0 to 1`);
  return ratio;
}

/** An OTLP/HTTP URL; returned as given. */
export function checkOtlpEndpoint(url: string): string {
  if (!/^https?:\/\/[^/]/.test(url)) throw new Error(`${url} is not an http:// or https:// URL`);
  return url;
}
