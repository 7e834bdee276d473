/**
 * The LMDB peer store (the `lmdb` package, embedded; the default store).
 *
 * Layout of the environment directory at `path` (schema version {@link SCHEMA_VERSION}):
 * - main database: `tcomms.format` = `peer-store`, `tcomms.schema` = the schema version;
 * - `peers`: public key (32 bytes) -> record (msgpack, `record-codec.ts`);
 * - `node-ids`: NodeId (13 bytes) -> public key: the secondary index, sorted for closest-N;
 * - `unverified`: `updatedAt` (8 bytes BE) + public key -> empty: the unverified records in
 *   eviction order (oldest first); its entry count bounds them (`maxUnverified`).
 *
 * Every write is one LMDB transaction (record and index together). On open, the format marker and
 * the schema version are checked and older schemas migrated (`migrations.ts`), each step in one
 * transaction. A file that is not LMDB, an LMDB database that is not ours, or a newer schema is
 * a typed error at start-up; nothing is ever wiped.
 */
import type { Database, RootDatabase } from 'lmdb';
import type { NodeId, PublicKey } from '../core/keys.js';
import { closestByPrefix } from './closest.js';
import { PeerStoreClosed, PeerStoreCorrupt, PeerStoreForeign, PeerStoreTooNew, PeerStoreWriteFailed } from './errors.js';
import { closeLmdbEnvironment, openLmdbEnvironment, type LmdbEnvironmentSpec, type LmdbStoreErrors } from './lmdb-open.js';
import { FORMAT_KEY, FORMAT_VALUE, openPeerTables, SCHEMA_KEY } from './lmdb-tables.js';
import { runMigrations } from './migrations.js';
import { isUnverified, type Peer } from './peer.js';
import { DEFAULT_MAX_UNVERIFIED, matchesFilter, randomIndex, unverifiedOrderTime, type PeerFilter, type PeerStore, type PeerStoreLimits } from './peer-store.js';
import { decodeRecord, encodeRecord, SCHEMA_VERSION, type PeerRecordV1 } from './record-codec.js';

export { FORMAT_KEY, FORMAT_VALUE, SCHEMA_KEY } from './lmdb-tables.js';


const PEER_STORE_ERRORS: LmdbStoreErrors = {
  corrupt: (path, problem, init) => new PeerStoreCorrupt(path, problem, init),
  foreign: (path) => new PeerStoreForeign(path),
  tooNew: (path, version, supported) => new PeerStoreTooNew(path, version, supported),
};
/** Options of {@link LmdbPeerStore.open}. */
export interface LmdbPeerStoreInit extends PeerStoreLimits {
  /** The environment directory (created if missing). */
  path: string;
  /** Largest size the file may grow to (bytes, default 1 GiB; LMDB maps it lazily). */
  mapSize?: number;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

const EMPTY = new Uint8Array(0);

/** A table's entry count from `mdb_stat` (O(1); inside a write transaction, what it wrote included). */
function entryCount(db: Database<Uint8Array, Uint8Array>): number {
  return (db.getStats() as { entryCount: number }).entryCount;
}

/** An unverified record's key in the `unverified` table: its `updatedAt` (8 bytes, big-endian) then its public key. */
function orderKey(peer: Peer, publicKey: Uint8Array): Uint8Array {
  const t = unverifiedOrderTime(peer);
  const key = new Uint8Array(8 + publicKey.length);
  const view = new DataView(key.buffer);
  view.setUint32(0, Math.floor(t / 2 ** 32));
  view.setUint32(4, t >>> 0);
  key.set(publicKey, 8);
  return key;
}

/** The LMDB peer store: every write in a transaction, indexes by NodeId, survives a killed process. */
export class LmdbPeerStore implements PeerStore {
  readonly name = 'lmdb';
  #closed = false;
  /** Gives the directory back to this process's other stores (see `lmdb-claim.ts`). */
  #release: () => void = () => {};

  private constructor(
    readonly path: string,
    private readonly env: RootDatabase,
    private readonly peers: Database<PeerRecordV1, Uint8Array>,
    private readonly ids: Database<Uint8Array, Uint8Array>,
    private readonly unverified: Database<Uint8Array, Uint8Array>,
    private readonly maxUnverified: number,
  ) {}

  /** Opens (or creates) the store at `path`, migrating an older schema. */
  static async open(init: LmdbPeerStoreInit): Promise<LmdbPeerStore> {
    const spec: LmdbEnvironmentSpec = {
      path: init.path,
      what: 'peer store',
      maxDbs: 8,
      mapSize: init.mapSize ?? 1 << 30,
      format: { key: FORMAT_KEY, value: FORMAT_VALUE },
      schema: { key: SCHEMA_KEY, version: SCHEMA_VERSION, oldest: 0 },
      errors: PEER_STORE_ERRORS,
    };
    return openLmdbEnvironment(spec, (env, version, release) => {
      runMigrations(env, version, SCHEMA_VERSION);
      const { peers, ids, unverified } = openPeerTables(env);
      const store = new LmdbPeerStore(init.path, env, peers, ids, unverified, init.maxUnverified ?? DEFAULT_MAX_UNVERIFIED);
      store.#release = release;
      return store;
    });
  }

  #check(): void {
    if (this.#closed) throw new PeerStoreClosed();
  }

  #decode(raw: unknown): Peer {
    try {
      return decodeRecord(raw);
    } catch (cause) {
      throw new PeerStoreCorrupt(this.path, `a peer record does not decode: ${(cause as Error).message}`, { cause });
    }
  }

  #read(publicKey: Uint8Array): Peer | undefined {
    const raw = this.peers.get(publicKey);
    return raw === undefined ? undefined : this.#decode(raw);
  }

  *#scan(start: Uint8Array, end: Uint8Array): Iterable<{ nodeId: NodeId; value: Peer }> {
    for (const { key, value } of this.ids.getRange({ start })) {
      if (compareBytes(key, end) > 0) return;
      const peer = this.#read(value);
      if (peer) yield { nodeId: peer.nodeId, value: peer };
    }
  }

  async get(publicKey: PublicKey): Promise<Peer | undefined> {
    this.#check();
    return this.#read(publicKey);
  }

  async getByNodeId(nodeId: NodeId): Promise<Peer | undefined> {
    this.#check();
    const key = this.ids.get(nodeId);
    return key === undefined ? undefined : this.#read(key);
  }

  async findByNodeIdPrefix(prefix: Uint8Array, limit: number): Promise<Peer[]> {
    this.#check();
    const out: Peer[] = [];
    for (const { key, value } of this.ids.getRange({ start: prefix })) {
      if (out.length >= limit || compareBytes(key.subarray(0, prefix.length), prefix) !== 0) break;
      const peer = this.#read(value);
      if (peer && peer.deletedAt === undefined) out.push(peer);
    }
    return out;
  }

  async update(publicKey: PublicKey, change: (current: Peer | undefined) => Peer | undefined, onEvicted?: (evicted: Peer) => void): Promise<Peer | undefined> {
    this.#check();
    let result: Peer | undefined;
    let evicted: Peer[] = [];
    try {
      await this.peers.transaction(() => {
        evicted = [];
        const current = this.#read(publicKey);
        const next = change(current);
        result = next ?? current;
        if (next === undefined) return;
        this.peers.putSync(publicKey, encodeRecord(next));
        if (!current) this.ids.putSync(next.nodeId, publicKey);
        if (current && isUnverified(current)) this.unverified.removeSync(orderKey(current, publicKey));
        if (!isUnverified(next)) return;
        this.unverified.putSync(orderKey(next, publicKey), EMPTY);
        // (mdb_stat in this write transaction: O(1), and counts what it wrote.)
        let over = entryCount(this.unverified) - this.maxUnverified;
        if (over <= 0) return;
        for (const { key } of this.unverified.getRange({ limit: over + 1 })) {
          if (over <= 0) break;
          const victim = key.subarray(8);
          if (compareBytes(victim, publicKey) === 0) continue;
          const peer = this.#read(victim);
          this.unverified.removeSync(key);
          if (peer) {
            this.peers.removeSync(victim);
            this.ids.removeSync(peer.nodeId);
            evicted.push(peer);
          }
          over--;
        }
      });
    } catch (err) {
      if (err instanceof Error && 'kind' in err) throw err;
      throw new PeerStoreWriteFailed(`peer store write failed: ${(err as Error).message}`, { cause: err });
    }
    if (onEvicted) for (const peer of evicted) onEvicted(peer);
    return result;
  }

  async closest(target: NodeId, n: number, filter: PeerFilter): Promise<Peer[]> {
    this.#check();
    return closestByPrefix(target, n, (s, e) => this.#scan(s, e), (p) => matchesFilter(p, filter));
  }

  /**
   * Up to `n` eligible peers, uniformly at random: random positions in the NodeId index (LMDB
   * skips to an offset inside its cursor, without decoding what it skips); when the draws keep
   * hitting ineligible or already-picked peers, the eligible rest is collected and shuffled.
   */
  async random(n: number, filter: PeerFilter): Promise<Peer[]> {
    this.#check();
    const picked = new Map<string, Peer>();
    const total = this.ids.getCount();
    for (let draw = 0; picked.size < n && draw < 4 * n + 8 && picked.size < total; draw++) {
      for (const { value } of this.ids.getRange({ offset: randomIndex(total), limit: 1 })) {
        const key = Buffer.from(value).toString('hex');
        if (picked.has(key)) continue;
        const peer = this.#read(value);
        if (peer && matchesFilter(peer, filter)) picked.set(key, peer);
      }
    }
    if (picked.size < n) {
      const rest: Array<[string, Peer]> = [];
      for (const { key, value } of this.peers.getRange()) {
        const k = Buffer.from(key).toString('hex');
        if (picked.has(k)) continue;
        const peer = this.#decode(value);
        if (matchesFilter(peer, filter)) rest.push([k, peer]);
      }
      for (let i = rest.length - 1; i > 0; i--) {
        const j = randomIndex(i + 1);
        [rest[i], rest[j]] = [rest[j]!, rest[i]!];
      }
      for (const [k, p] of rest.slice(0, n - picked.size)) picked.set(k, p);
    }
    return [...picked.values()];
  }

  async all(predicate: (peer: Peer) => boolean = () => true): Promise<Peer[]> {
    this.#check();
    const out: Peer[] = [];
    for (const { value } of this.peers.getRange()) {
      const peer = this.#decode(value);
      if (peer.deletedAt === undefined && predicate(peer)) out.push(peer);
    }
    return out;
  }

  async count(): Promise<number> {
    this.#check();
    return this.peers.getCount();
  }

  async countUnverified(): Promise<number> {
    this.#check();
    return entryCount(this.unverified);
  }

  /** Checks that the index and the records agree (used after a crash in the tests). */
  async verify(): Promise<{ peers: number; indexed: number; problems: string[] }> {
    const problems: string[] = [];
    let peers = 0;
    for (const { key, value } of this.peers.getRange()) {
      peers++;
      const peer = this.#decode(value);
      if (compareBytes(peer.publicKey, key) !== 0) problems.push(`record under the wrong key`);
      const indexed = this.ids.get(peer.nodeId);
      if (!indexed || compareBytes(indexed, key) !== 0) problems.push(`peer ${Buffer.from(key).toString('hex')} missing from the NodeId index`);
    }
    const indexed = this.ids.getCount();
    if (indexed !== peers) problems.push(`${indexed} index entries for ${peers} peers`);
    let unverified = 0;
    for (const { value } of this.peers.getRange()) if (isUnverified(this.#decode(value))) unverified++;
    const ordered = this.unverified.getCount();
    if (ordered !== unverified) problems.push(`${ordered} eviction-order entries for ${unverified} unverified peers`);
    for (const { key } of this.unverified.getRange()) {
      const peer = this.#read(key.subarray(8));
      if (!peer || !isUnverified(peer) || compareBytes(orderKey(peer, peer.publicKey), key) !== 0) problems.push(`eviction-order entry ${Buffer.from(key).toString('hex')} does not match its record`);
    }
    return { peers, indexed, problems };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await closeLmdbEnvironment(this.env, this.#release);
  }
}
