/**
 * `kubectl get` asks for `as=Table`; answering with one gives it the kind's own columns
 * (TARGET, RATE, ...) instead of just NAME and AGE. Rows carry PartialObjectMetadata so that -A
 * and --show-labels work.
 */
import type { KindDefinition, Resource } from '@portolan/api';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function wantsTable(accept: string | undefined): boolean {
  return !!accept && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

/** Kubernetes' HumanDuration (apimachinery/pkg/util/duration), the AGE column's format. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (days < 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (years < 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

export function toTable(definition: KindDefinition, items: Resource[], revision: string, include: IncludeObject, now = Date.now()) {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: revision },
    columnDefinitions: [
      { name: 'Name', type: 'string', format: 'name', description: 'Name of the object', priority: 0 },
      ...definition.printerColumns.map((column) => ({ name: column.name, type: column.type, format: '', description: column.description, priority: column.priority ?? 0 })),
      { name: 'Age', type: 'date', format: '', description: 'Time since creation', priority: 0 },
    ],
    rows: items.map((item) => ({
      cells: [
        item.metadata.name,
        ...definition.printerColumns.map((column) => column.cell(item)),
        item.metadata.creationTimestamp ? humanDuration(now - Date.parse(item.metadata.creationTimestamp)) : '<unknown>',
      ],
      ...(include === 'None'
        ? {}
        : { object: include === 'Object' ? item : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: item.metadata } }),
    })),
  };
}

/**
 * Watch events for `kubectl get -w`: each object becomes a one-row Table. Only the first carries
 * the column definitions, as kube-apiserver sends them; kubectl prints the header once and
 * keeps the kind's columns for every later event.
 */
export function tableRows(definition: KindDefinition, include: IncludeObject, now: () => number = Date.now) {
  let first = true;
  return (resource: Resource) => {
    const table = toTable(definition, [resource], resource.metadata.resourceVersion ?? '', include, now());
    if (first) {
      first = false;
      return table;
    }
    return { ...table, columnDefinitions: [] };
  };
}
