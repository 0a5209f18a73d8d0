/**
 * A replica that starts while Consul is down (a node reboot during a Consul upgrade, a whole site
 * coming back) waits for it instead of exiting: exiting would only turn an outage into a crash
 * loop whose restarts back off for minutes after Consul is back. While it waits, the ops port
 * answers /healthz (alive) and /readyz 503 (not ready), as Kubernetes probes expect.
 *
 * Waiting ends when Consul has a Raft leader (without one, every KV write fails) and the KV
 * prefix can be read with this replica's token. An ACL refusal does not end by waiting: it is
 * thrown at once, so the operator sees which token is wrong.
 */
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { ConsulUnavailableError, type ConsulClient } from './consul-client';

/** Field notes: back off 1, 2, 4 ... s with jitter; capped so a returning Consul is noticed within 10 s (one cheap call per 10 s costs it nothing). */
const FIRST_DELAY_MS = 1_000;
const MAX_DELAY_MS = 10_000;

export class ConsulWithoutLeaderError extends ConsulUnavailableError {
  constructor(address: string) {
    super(address, 'it answers but has no Raft leader, so it cannot take writes; are a quorum of its servers up?');
  }
}

export async function waitForConsul(
  consul: ConsulClient,
  options: { onWaiting: (error: Error, attempt: number) => void; signal?: AbortSignal },
): Promise<void> {
  const policy = retry(
    handleWhen((error) => error instanceof ConsulUnavailableError),
    { maxAttempts: Number.POSITIVE_INFINITY, backoff: new ExponentialBackoff({ initialDelay: FIRST_DELAY_MS, maxDelay: MAX_DELAY_MS }) },
  );
  policy.onRetry((event) => {
    if ('error' in event) options.onWaiting(event.error, event.attempt);
  });
  await policy.execute(async () => {
    if (!(await consul.leader())) throw new ConsulWithoutLeaderError(consul.address);
    await consul.kvGet(consul.key('revision'));
  }, options.signal);
}
