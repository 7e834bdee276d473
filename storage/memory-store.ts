/**
 * The in-memory peer store: the same contract as the LMDB store, for tests and simulations.
 * Peers are kept by public key with a NodeId index sorted for range scans (closest-N).
 */
import { toHex } from '../core/bytes.js';
import type { NodeId, PublicKey } from '../core/keys.js';
import { closestByPrefix } from './closest.js';
import { PeerStoreClosed } from './errors.js';
import { clonePeer as clone, isUnverified, type Peer } from './peer.js';
import { DEFAULT_MAX_UNVERIFIED, matchesFilter, randomIndex, unverifiedOrderTime, type PeerFilter, type PeerStore, type PeerStoreLimits } from './peer-store.js';

/** An unverified record's place in the eviction order: its time (16 hex digits) then its key, so they sort as the LMDB store's keys do. */
const orderKey = (p: Peer, keyHex: string) => unverifiedOrderTime(p).toString(16).padStart(16, '0') + keyHex;

/** The in-memory peer store (tests, short-lived nodes); nothing survives the process. */
export class MemoryPeerStore implements PeerStore {
  readonly name = 'memory';
  readonly #byKey = new Map<string, Peer>();
  /** NodeId hex (sorts as the bytes do) -> public key hex, kept sorted. */
  #ids: string[] = [];
  readonly #idToKey = new Map<string, string>();
  /** The unverified records in eviction order (oldest first): {@link orderKey}s, kept sorted. */
  #unverified: string[] = [];
  readonly #maxUnverified: number;
  #closed = false;

  constructor(limits: PeerStoreLimits = {}) {
    this.#maxUnverified = limits.maxUnverified ?? DEFAULT_MAX_UNVERIFIED;
  }

  static #lowerBoundIn(list: readonly string[], hex: string): number {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]! < hex) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #unverifiedRemove(k: string): void {
    const i = MemoryPeerStore.#lowerBoundIn(this.#unverified, k);
    if (this.#unverified[i] === k) this.#unverified.splice(i, 1);
  }

  #check(): void {
    if (this.#closed) throw new PeerStoreClosed();
  }

  #lowerBound(hex: string): number {
    return MemoryPeerStore.#lowerBoundIn(this.#ids, hex);
  }

  *#scan(start: Uint8Array, end: Uint8Array): Iterable<{ nodeId: NodeId; value: Peer }> {
    const endHex = toHex(end);
    for (let i = this.#lowerBound(toHex(start)); i < this.#ids.length && this.#ids[i]! <= endHex; i++) {
      const peer = this.#byKey.get(this.#idToKey.get(this.#ids[i]!)!)!;
      yield { nodeId: peer.nodeId, value: peer };
    }
  }

  async get(publicKey: PublicKey): Promise<Peer | undefined> {
    this.#check();
    const p = this.#byKey.get(toHex(publicKey));
    return p && clone(p);
  }

  async getByNodeId(nodeId: NodeId): Promise<Peer | undefined> {
    this.#check();
    const key = this.#idToKey.get(toHex(nodeId));
    return key === undefined ? undefined : clone(this.#byKey.get(key)!);
  }

  async findByNodeIdPrefix(prefix: Uint8Array, limit: number): Promise<Peer[]> {
    this.#check();
    const hex = toHex(prefix);
    const out: Peer[] = [];
    for (let i = this.#lowerBound(hex); i < this.#ids.length && this.#ids[i]!.startsWith(hex) && out.length < limit; i++) {
      const p = this.#byKey.get(this.#idToKey.get(this.#ids[i]!)!)!;
      if (p.deletedAt === undefined) out.push(clone(p));
    }
    return out;
  }

  async update(publicKey: PublicKey, change: (current: Peer | undefined) => Peer | undefined, onEvicted?: (evicted: Peer) => void): Promise<Peer | undefined> {
    this.#check();
    const key = toHex(publicKey);
    const current = this.#byKey.get(key);
    const next = change(current && clone(current));
    if (next === undefined) return current && clone(current);
    const idHex = toHex(next.nodeId);
    if (!current) {
      this.#ids.splice(this.#lowerBound(idHex), 0, idHex);
      this.#idToKey.set(idHex, key);
    }
    this.#byKey.set(key, clone(next));
    if (current && isUnverified(current)) this.#unverifiedRemove(orderKey(current, key));
    if (isUnverified(next)) {
      const k = orderKey(next, key);
      this.#unverified.splice(MemoryPeerStore.#lowerBoundIn(this.#unverified, k), 0, k);
      while (this.#unverified.length > this.#maxUnverified) {
        const victim = this.#unverified[0] === k ? 1 : 0;
        this.#evict(this.#unverified[victim]!.slice(16), victim, onEvicted);
      }
    }
    return clone(next);
  }

  /** Removes the unverified record at `index` of the eviction order for good. */
  #evict(keyHex: string, index: number, onEvicted: ((evicted: Peer) => void) | undefined): void {
    const peer = this.#byKey.get(keyHex)!;
    this.#unverified.splice(index, 1);
    this.#byKey.delete(keyHex);
    const idHex = toHex(peer.nodeId);
    this.#idToKey.delete(idHex);
    const i = this.#lowerBound(idHex);
    if (this.#ids[i] === idHex) this.#ids.splice(i, 1);
    onEvicted?.(clone(peer));
  }

  async closest(target: NodeId, n: number, filter: PeerFilter): Promise<Peer[]> {
    this.#check();
    return closestByPrefix(target, n, (s, e) => this.#scan(s, e), (p) => matchesFilter(p, filter)).map(clone);
  }

  async random(n: number, filter: PeerFilter): Promise<Peer[]> {
    this.#check();
    const eligible = [...this.#byKey.values()].filter((p) => matchesFilter(p, filter));
    for (let i = eligible.length - 1; i > 0; i--) {
      const j = randomIndex(i + 1);
      [eligible[i], eligible[j]] = [eligible[j]!, eligible[i]!];
    }
    return eligible.slice(0, n).map(clone);
  }

  async all(predicate: (peer: Peer) => boolean = () => true): Promise<Peer[]> {
    this.#check();
    return [...this.#byKey.values()].filter((p) => p.deletedAt === undefined && predicate(p)).map(clone);
  }

  async count(): Promise<number> {
    this.#check();
    return this.#byKey.size;
  }

  async countUnverified(): Promise<number> {
    this.#check();
    return this.#unverified.length;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
