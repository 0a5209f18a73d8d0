/**
 * A replica that starts while Consul is down (a node reboot during a Consul upgrade, a whole site
 * coming back) waits for it instead of exiting: exiting would only turn an outage into a crash
 * loop whose restarts back off for minutes after Consul is back. While it waits, the ops port
 * answers /healthz (alive) and /readyz 503 (not ready), as Kubernetes probes expect.
 *
 * Waiting ends when Consul has a Raft leader (without one, every KV write fails) and `prepare`
 * (what the replica reads and writes before it takes part) succeeds; a Consul that fails again
 * halfway through makes the whole of it start over. An ACL refusal or a TLS certificate Consul's
 * CA does not verify does not end by waiting: it is thrown at once, so the operator sees which
 * setting is wrong.
 */
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { ConsulTlsError, ConsulUnavailableError, type ConsulClient } from './consul-client';

/**
 * Field notes: back off about 1, 2, 4 ... s (cockatiel's decorrelated jitter around those); capped
 * so a returning Consul is noticed within 10 s (one cheap call per 10 s costs it nothing).
 */
const FIRST_DELAY_MS = 1_000;
const MAX_DELAY_MS = 10_000;

export class ConsulWithoutLeaderError extends ConsulUnavailableError {
  constructor(address: string) {
    super(address, 'it answers but has no Raft leader, so it cannot take writes; are a quorum of its servers up?');
  }
}

export async function waitForConsul<T>(
  consul: ConsulClient,
  prepare: () => Promise<T>,
  options: { onWaiting: (error: Error, attempt: number) => void },
): Promise<T> {
  const policy = retry(
    handleWhen((error) => error instanceof ConsulUnavailableError && !(error instanceof ConsulTlsError)),
    { maxAttempts: Number.POSITIVE_INFINITY, backoff: new ExponentialBackoff({ initialDelay: FIRST_DELAY_MS, maxDelay: MAX_DELAY_MS }) },
  );
  policy.onRetry((event) => {
    if ('error' in event) options.onWaiting(event.error, event.attempt);
  });
  return policy.execute(async () => {
    if (!(await consul.leader())) throw new ConsulWithoutLeaderError(consul.address);
    return prepare();
  });
}
