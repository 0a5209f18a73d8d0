/**
 * DeleteOptions as kubectl sends them (`{"propagationPolicy":"Background"}`, `--grace-period`,
 * `--cascade`, `--now`, `--dry-run=server`) and as clients send preconditions. Mesh objects have
 * no dependents and no graceful termination, so every propagation policy and grace period deletes
 * at once; they are still checked as kube-apiserver checks them, so a typo is an error rather
 * than, say, a dry run that deletes for real.
 */
import { isJsonObject, type StatusCause } from '@portolan/api';
import { ApiError } from '../errors/api-error';

export interface DeleteOptions {
  dryRun: boolean;
  /** Delete only if the object still has this resourceVersion (else 409 Conflict). */
  expectedResourceVersion?: string;
  /** Delete only if the object is still this incarnation (else 409 Conflict). */
  expectedUid?: string;
}

const PROPAGATION_POLICIES = ['Orphan', 'Background', 'Foreground'];

function invalid(causes: StatusCause[]): ApiError {
  return ApiError.invalid('DeleteOptions', '', causes, 'meta.k8s.io');
}

/** `dryRun` and the other options may come in the query (`?dryRun=All`) or in the body. */
export function parseDeleteOptions(body: unknown, query: Record<string, string | undefined>): DeleteOptions {
  if (body !== undefined && body !== '' && !isJsonObject(body)) {
    throw ApiError.badRequest('the body of a DELETE must be DeleteOptions (a JSON object) or empty');
  }
  const options = isJsonObject(body) ? body : {};
  const causes: StatusCause[] = [];

  const propagationPolicy = options.propagationPolicy ?? query.propagationPolicy;
  if (propagationPolicy !== undefined && !PROPAGATION_POLICIES.includes(propagationPolicy as string)) {
    causes.push({ field: 'propagationPolicy', reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(propagationPolicy)}: supported values: "Orphan", "Background", "Foreground"` });
  }
  const gracePeriod = options.gracePeriodSeconds ?? query.gracePeriodSeconds;
  if (gracePeriod !== undefined) {
    const seconds = typeof gracePeriod === 'string' && /^\d+$/.test(gracePeriod) ? Number(gracePeriod) : gracePeriod;
    if (!Number.isInteger(seconds) || (seconds as number) < 0) {
      causes.push({ field: 'gracePeriodSeconds', reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(gracePeriod)}: must be a non-negative integer` });
    }
  }
  const dryRun = [...(query.dryRun === undefined ? [] : [query.dryRun]), ...(options.dryRun === undefined ? [] : Array.isArray(options.dryRun) ? options.dryRun : [options.dryRun])];
  if (options.dryRun !== undefined && !Array.isArray(options.dryRun)) {
    causes.push({ field: 'dryRun', reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(options.dryRun)}: must be a list, e.g. ["All"]` });
  } else if (dryRun.some((value) => value !== 'All')) {
    causes.push({ field: 'dryRun', reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(dryRun.find((value) => value !== 'All'))}: supported values: "All"` });
  }
  const preconditions = options.preconditions ?? {};
  if (!isJsonObject(preconditions)) {
    causes.push({ field: 'preconditions', reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(preconditions)}: must be an object with uid and/or resourceVersion` });
  }
  const precondition = (field: 'uid' | 'resourceVersion'): string | undefined => {
    const value = isJsonObject(preconditions) ? preconditions[field] : undefined;
    if (value === undefined || value === null || typeof value === 'string') return value ?? undefined;
    causes.push({ field: `preconditions.${field}`, reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: must be a string` });
    return undefined;
  };
  const expectedUid = precondition('uid');
  const expectedResourceVersion = precondition('resourceVersion');
  if (causes.length) throw invalid(causes);
  return { dryRun: dryRun.length > 0, expectedResourceVersion, expectedUid };
}
