/**
 * A Map with a bound: adding a new key when full drops the oldest entry. For the caches that
 * spare repeated work per peer (validated keys, imported key objects, X25519 forms, recorded
 * claims), so none grows with the number of peers ever seen.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(readonly max: number) {
    super();
  }

  override set(key: K, value: V): this {
    if (this.size >= this.max && !this.has(key)) this.delete(this.keys().next().value as K);
    return super.set(key, value);
  }

  /** The value kept for `key`, made by `make` (and kept) when there is none. */
  getOrSet(key: K, make: () => V): V {
    let value = this.get(key);
    if (value === undefined) {
      value = make();
      this.set(key, value);
    }
    return value;
  }
}
