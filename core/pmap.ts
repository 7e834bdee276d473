/**
 * A persistent (immutable) map from strings to values: `set` and `delete` return a new map that
 * shares all but O(log n) of its structure with the old one, which stays as it was. A hash
 * array mapped trie (HAMT): 32-way branches indexed by 5 bits of a 32-bit hash, compressed by a
 * bitmap; keys whose hashes are equal share a collision node.
 *
 * Why: actors' contexts are immutable, so a context that holds one entry per connection was
 * copied whole on every connect and hang-up (`{ ...connections, [key]: c }`), and a node with
 * n connections paid O(n) per connection (at 3,000 idle connections, 40% of the listener's time
 * per connect). With this map each update costs O(log n) and the machines stay pure: an old
 * snapshot's map never changes.
 */

const BITS = 5;
const WIDTH = 1 << BITS;
const MASK = WIDTH - 1;

interface Leaf<V> {
  readonly kind: 0;
  readonly hash: number;
  readonly key: string;
  readonly value: V;
}
interface Branch<V> {
  readonly kind: 1;
  /** Bit i set: a child for index i, at position popcount(bitmap below i) in `children`. */
  readonly bitmap: number;
  readonly children: readonly Node<V>[];
}
interface Collision<V> {
  readonly kind: 2;
  readonly hash: number;
  readonly leaves: readonly Leaf<V>[];
}
type Node<V> = Leaf<V> | Branch<V> | Collision<V>;

/** FNV-1a over the UTF-16 code units, as an unsigned 32-bit integer (exported for the tests, which need colliding keys). */
export function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

const indexAt = (hash: number, depth: number) => (hash >>> (depth * BITS)) & MASK;

function leaf<V>(hash: number, key: string, value: V): Leaf<V> {
  return { kind: 0, hash, key, value };
}

/**
 * A node holding `a` (a leaf, or a collision node) and the leaf `b` with another key, from
 * `depth` down: a collision node when their hashes are equal, else branches down to the first
 * level where their hash bits differ.
 */
function pair<V>(a: Leaf<V> | Collision<V>, b: Leaf<V>, depth: number): Node<V> {
  if (a.hash === b.hash) return a.kind === 0 ? { kind: 2, hash: a.hash, leaves: [a, b] } : { kind: 2, hash: a.hash, leaves: [...a.leaves, b] };
  // Different 32-bit hashes differ in some 5-bit slice before MAX_DEPTH.
  const ia = indexAt(a.hash, depth);
  const ib = indexAt(b.hash, depth);
  if (ia === ib) return { kind: 1, bitmap: 1 << ia, children: [pair(a, b, depth + 1)] };
  return { kind: 1, bitmap: (1 << ia) | (1 << ib), children: ia < ib ? [a, b] : [b, a] };
}

function lookup<V>(node: Node<V> | undefined, hash: number, key: string): Leaf<V> | undefined {
  for (let depth = 0; node !== undefined; depth++) {
    if (node.kind === 0) return node.key === key ? node : undefined;
    if (node.kind === 2) return node.hash === hash ? node.leaves.find((l) => l.key === key) : undefined;
    const bit = 1 << indexAt(hash, depth);
    if ((node.bitmap & bit) === 0) return undefined;
    node = node.children[popcount(node.bitmap & (bit - 1))];
  }
  return undefined;
}

/** `node` with `l` put in; `added.value` says whether the key is new. */
function insert<V>(node: Node<V>, l: Leaf<V>, depth: number, added: { value: boolean }): Node<V> {
  if (node.kind === 0) {
    if (node.key === l.key) return node.value === l.value ? node : l;
    added.value = true;
    return pair(node, l, depth);
  }
  if (node.kind === 2) {
    if (node.hash !== l.hash) {
      added.value = true;
      return pair(node, l, depth);
    }
    const at = node.leaves.findIndex((x) => x.key === l.key);
    if (at < 0) {
      added.value = true;
      return { kind: 2, hash: node.hash, leaves: [...node.leaves, l] };
    }
    if (node.leaves[at]!.value === l.value) return node;
    const leaves = node.leaves.slice();
    leaves[at] = l;
    return { kind: 2, hash: node.hash, leaves };
  }
  const bit = 1 << indexAt(l.hash, depth);
  const pos = popcount(node.bitmap & (bit - 1));
  if ((node.bitmap & bit) === 0) {
    added.value = true;
    const children = node.children.slice();
    children.splice(pos, 0, l);
    return { kind: 1, bitmap: node.bitmap | bit, children };
  }
  const child = node.children[pos]!;
  const next = insert(child, l, depth + 1, added);
  if (next === child) return node;
  const children = node.children.slice();
  children[pos] = next;
  return { kind: 1, bitmap: node.bitmap, children };
}

/** `node` without `key` (the same node when absent; undefined when nothing is left). */
function remove<V>(node: Node<V>, hash: number, key: string, depth: number): Node<V> | undefined {
  if (node.kind === 0) return node.key === key ? undefined : node;
  if (node.kind === 2) {
    if (node.hash !== hash) return node;
    const leaves = node.leaves.filter((l) => l.key !== key);
    if (leaves.length === node.leaves.length) return node;
    return leaves.length === 1 ? leaves[0] : { kind: 2, hash: node.hash, leaves };
  }
  const bit = 1 << indexAt(hash, depth);
  if ((node.bitmap & bit) === 0) return node;
  const pos = popcount(node.bitmap & (bit - 1));
  const child = node.children[pos]!;
  const next = remove(child, hash, key, depth + 1);
  if (next === child) return node;
  if (next === undefined) {
    if (node.children.length === 1) return undefined;
    const children = node.children.slice();
    children.splice(pos, 1);
    // A branch left with one leaf collapses into it (a leaf needs no branch above it).
    if (children.length === 1 && children[0]!.kind !== 1) return children[0];
    return { kind: 1, bitmap: node.bitmap & ~bit, children };
  }
  // A child branch reduced to one leaf or collision is pulled up into this level.
  if (next.kind !== 1 && node.children.length === 1) return next;
  const children = node.children.slice();
  children[pos] = next;
  return { kind: 1, bitmap: node.bitmap, children };
}

function* leavesOf<V>(node: Node<V> | undefined): Generator<Leaf<V>> {
  if (node === undefined) return;
  if (node.kind === 0) yield node;
  else if (node.kind === 2) yield* node.leaves;
  else for (const child of node.children) yield* leavesOf(child);
}

/** A persistent map from strings to `V` (see the module comment). Iteration order is the trie's, not insertion order. */
export class PMap<V> {
  static readonly #empty = new PMap<never>(undefined, 0);
  readonly #root: Node<V> | undefined;
  /** Entries in the map. */
  readonly size: number;

  private constructor(root: Node<V> | undefined, size: number) {
    this.#root = root;
    this.size = size;
  }

  /** The empty map. */
  static empty<V>(): PMap<V> {
    return PMap.#empty as PMap<V>;
  }

  /** A map of `entries` (later keys win). */
  static of<V>(entries: Iterable<readonly [string, V]>): PMap<V> {
    let m = PMap.empty<V>();
    for (const [k, v] of entries) m = m.set(k, v);
    return m;
  }

  get(key: string): V | undefined {
    return lookup(this.#root, hashOf(key), key)?.value;
  }

  has(key: string): boolean {
    return lookup(this.#root, hashOf(key), key) !== undefined;
  }

  /** This map with `key` set to `value` (this same map when it already held that value). */
  set(key: string, value: V): PMap<V> {
    const l = leaf(hashOf(key), key, value);
    if (this.#root === undefined) return new PMap(l, 1);
    const added = { value: false };
    const root = insert(this.#root, l, 0, added);
    return root === this.#root ? this : new PMap(root, this.size + (added.value ? 1 : 0));
  }

  /** This map without `key` (this same map when it had none). */
  delete(key: string): PMap<V> {
    if (this.#root === undefined) return this;
    const root = remove(this.#root, hashOf(key), key, 0);
    if (root === this.#root) return this;
    return root === undefined ? PMap.empty() : new PMap(root, this.size - 1);
  }

  *entries(): Generator<[string, V]> {
    for (const l of leavesOf(this.#root)) yield [l.key, l.value];
  }

  *keys(): Generator<string> {
    for (const l of leavesOf(this.#root)) yield l.key;
  }

  *values(): Generator<V> {
    for (const l of leavesOf(this.#root)) yield l.value;
  }

  [Symbol.iterator](): Generator<[string, V]> {
    return this.entries();
  }

  /** A plain object of the entries (for inspection and JSON; O(n)). */
  toJSON(): Record<string, V> {
    const out: Record<string, V> = {};
    for (const l of leavesOf(this.#root)) out[l.key] = l.value;
    return out;
  }
}
