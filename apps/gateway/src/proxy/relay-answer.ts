/**
 * Streams an upstream's answer body to the client, with backpressure, and settles when the client
 * has the whole answer.
 *
 * Written by hand instead of `stream/promises.pipeline`, which does the same but creates an
 * AbortController per call and aborts it when the streams finish; the abort builds a DOMException
 * with a stack trace, for every answer. That was about a sixth of the gateway's CPU in the proxy
 * benchmark (docs/benchmarks.md). The failure handling is pipeline's:
 *   - the upstream body fails (reset, deadline): the client's response is destroyed with that
 *     error, so the client sees a broken answer rather than a short one, and the promise rejects;
 *   - the client leaves first: the upstream body is destroyed (freeing its connection) and the
 *     promise rejects with ERR_STREAM_PREMATURE_CLOSE, as pipeline's does.
 */
import type { Readable, Writable } from 'node:stream';

const ignoreAbort = () => undefined;

const prematureClose = () => Object.assign(new Error('the client closed the connection before the answer was complete'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });

export function relayAnswer(body: Readable, response: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      body.off('error', onBodyError);
      body.off('close', onBodyClose);
      response.off('finish', onFinish);
      response.off('close', onResponseClose);
      if (error) reject(error);
      else resolve();
    };
    const onBodyError = (error: Error) => {
      response.destroy(error);
      settle(error);
    };
    // Destroyed without an error, the body would never end the response: fail it instead of hanging.
    const onBodyClose = () => {
      if (!body.readableEnded) onBodyError(Object.assign(new Error('the upstream answer stopped before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    const onFinish = () => settle(undefined);
    const onResponseClose = () => {
      if (response.writableFinished) return settle(undefined);
      // undici's body, destroyed before its end, emits an AbortError afterwards: expected here, and
      // with no listener it would be an uncaught exception.
      body.on('error', ignoreAbort);
      body.destroy();
      settle(prematureClose());
    };
    body.on('error', onBodyError);
    body.on('close', onBodyClose);
    response.on('finish', onFinish);
    response.on('close', onResponseClose);
    body.pipe(response);
  });
}
