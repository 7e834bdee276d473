/**
 * The in-memory peer store: the same contract as the LMDB store, for tests and simulations.
 * Peers are kept by public key with a NodeId index sorted for range scans (closest-N).
 */
import { toHex } from '../core/bytes.js';
import type { NodeId, PublicKey } from '../core/keys.js';
import { closestByPrefix } from './closest.js';
import { PeerStoreClosed } from './errors.js';
import { clonePeer as clone, type Peer } from './peer.js';
import { matchesFilter, randomIndex, type PeerFilter, type PeerStore } from './peer-store.js';

/** The in-memory peer store (tests, short-lived nodes); nothing survives the process. */
export class MemoryPeerStore implements PeerStore {
  readonly name = 'memory';
  readonly #byKey = new Map<string, Peer>();
  /** NodeId hex (sorts as the bytes do) -> public key hex, kept sorted. */
  #ids: string[] = [];
  readonly #idToKey = new Map<string, string>();
  #closed = false;

  #check(): void {
    if (this.#closed) throw new PeerStoreClosed();
  }

  #lowerBound(hex: string): number {
    let lo = 0;
    let hi = this.#ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#ids[mid]! < hex) lo = mid + 1;
      else hi = mid;
    }
    return lo;
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

  async update(publicKey: PublicKey, change: (current: Peer | undefined) => Peer | undefined): Promise<Peer | undefined> {
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
    return clone(next);
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

  async close(): Promise<void> {
    this.#closed = true;
  }
}
