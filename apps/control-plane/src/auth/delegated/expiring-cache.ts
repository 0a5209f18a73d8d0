/**
 * A bounded map whose entries expire: what k8s.io/apiserver's webhook authorizer, which the
 * delegating authorizer of aggregated API servers is built on, keeps its SubjectAccessReview
 * answers in (an LRU with a TTL per entry). When full, the entry used least
 * recently goes first, so a flood of distinct requests cannot grow it without bound.
 */
export class ExpiringCache<V> {
  /** Insertion order is recency order: a read moves the entry to the end. */
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive whole number, not ${maxEntries}`);
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= this.now()) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, ttlMs: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  clear(): void {
    this.entries.clear();
  }
}
