/**
 * The LMDB store-and-forward store: its own environment, `<data dir>/saf` beside the peer
 * store's `<data dir>/peers` (layout: `saf-lmdb-tables.ts`).
 *
 * Why its own environment rather than named databases in the peer store's: LMDB has one writer
 * per environment, and a burst of stored messages (one transaction each) would queue peer
 * updates behind it; the envelopes (up to 1 GiB) and the peers (a few MB) grow, migrate and get
 * backed up apart; and an operator may delete `saf/` (others' messages in transit) without
 * losing the node's peers and bans.
 *
 * Every write (put with its evictions and sweep, remove, expire) is one LMDB child transaction:
 * all of it or none of it, even when lmdb-js batches several calls into one commit. A call's
 * promise resolves once its transaction is committed: a killed process loses none of it
 * (`close()` also waits for the flush to disk). On open, the data file's meta pages are checked
 * before LMDB maps it (`lmdb-header.ts`), then the format marker and schema version; a file that
 * is not ours is a typed error, never wiped.
 */
import type { RootDatabase } from 'lmdb';
import { toHex } from '../core/bytes.js';
import { InternalError } from '../core/errors.js';
import { nodeIdOf } from '../core/keys.js';
import { SafStoreClosed, SafStoreCorrupt, SafStoreForeign, SafStoreTooNew, SafStoreWriteFailed } from './errors.js';
import { closeLmdbEnvironment, openLmdbEnvironment, type LmdbEnvironmentSpec, type LmdbStoreErrors } from './lmdb-open.js';
import { planEviction, type RankedMessage } from './saf-eviction.js';
import {
  decodeSafRecord,
  cursorKey,
  destinationKey,
  destinationValue,
  encodeSafRecord,
  expiryKey,
  idKey,
  nodeIdKey,
  nodeIdValue,
  openSafTables,
  prefixEnd,
  rankKey,
  readU32,
  readU64,
  regionRange,
  SAF_CURSORS_KEY,
  SAF_FORMAT_KEY,
  SAF_FORMAT_VALUE,
  SAF_SCHEMA_KEY,
  SAF_SCHEMA_VERSION,
  SAF_TOTALS_KEY,
  senderRankKey,
  u32Value,
  usageValue,
  type SafRecord,
  type SafTables,
  type SafTotals,
} from './saf-lmdb-tables.js';
import { storedMessageBytes } from './saf-size.js';
import {
  checkRegion,
  envelopeSizeAllowed,
  takeForResponse,
  expireBound,
  fetchWindow,
  normalisePut,
  resolveSafLimits,
  toSeconds,
  type SafDropped,
  type SafEvicted,
  type SafFetchOptions,
  type SafFetchResult,
  type SafMessageId,
  type SafMessageInit,
  type SafPriority,
  type SafPutResult,
  type SafRegion,
  type SafRegionMessage,
  type SafRegionResult,
  type SafServedMessage,
  type SafStats,
  type SafStore,
  type SafStoreLimits,
  type SafUsage,
} from './saf-store.js';

/** Options of {@link LmdbSafStore.open}. */
export interface LmdbSafStoreInit {
  /** The environment directory (created if missing), by convention `<data dir>/saf`. */
  path: string;
  /** Bounds (defaults: 9.7's, see `DEFAULT_SAF_LIMITS`). */
  limits?: Partial<SafStoreLimits>;
  /**
   * The map LMDB reserves at first (bytes; lmdb-js grows it when full). Default 2 GiB: 1 GiB of
   * envelopes takes more on disk (a 6 KB envelope fills two 4 KiB overflow pages), plus indexes.
   */
  mapSize?: number;
}

const EMPTY = new Uint8Array(0);
const ZERO_TOTALS: SafTotals = { count: 0, bytes: 0, senders: 0, nextId: 1 };

/** A rank index entry, with the key it came from. */
interface RankEntry extends RankedMessage {
  readonly key: Uint8Array;
}

const SAF_STORE_ERRORS: LmdbStoreErrors = {
  corrupt: (path, problem, init) => new SafStoreCorrupt(path, problem, init),
  foreign: (path) => new SafStoreForeign(path),
  tooNew: (path, version, supported) => new SafStoreTooNew(path, version, supported),
};

/** The LMDB SAF store: one transaction per write, indexed by destination, expiry and rank. */
export class LmdbSafStore implements SafStore {
  readonly name = 'lmdb';
  readonly limits: Readonly<SafStoreLimits>;
  #closed = false;
  /** Gives the directory back to this process's other stores (see `lmdb-claim.ts`). */
  #release: () => void = () => {};

  private constructor(
    readonly path: string,
    private readonly env: RootDatabase,
    private readonly t: SafTables,
    limits: SafStoreLimits,
  ) {
    this.limits = Object.freeze(limits);
  }

  /** Opens (or creates) the store at `path`. */
  static async open(init: LmdbSafStoreInit): Promise<LmdbSafStore> {
    const limits = resolveSafLimits(init.limits);
    const spec: LmdbEnvironmentSpec = {
      path: init.path,
      what: 'store-and-forward store',
      maxDbs: 12,
      mapSize: init.mapSize ?? 2 * 1024 ** 3,
      format: { key: SAF_FORMAT_KEY, value: SAF_FORMAT_VALUE },
      schema: { key: SAF_SCHEMA_KEY, version: SAF_SCHEMA_VERSION, oldest: 1 },
      initial: [[SAF_TOTALS_KEY, ZERO_TOTALS]],
      errors: SAF_STORE_ERRORS,
    };
    return openLmdbEnvironment(spec, (env, _version, release) => {
      const store = new LmdbSafStore(init.path, env, openSafTables(env), limits);
      store.#release = release;
      store.#totals(); // a damaged totals record fails the open, not the first put
      return store;
    });
  }

  #check(): void {
    if (this.#closed) throw new SafStoreClosed();
  }

  #corrupt(detail: string, cause?: unknown): SafStoreCorrupt {
    return new SafStoreCorrupt(this.path, detail, { cause });
  }

  #totals(): SafTotals {
    const t = this.env.get(SAF_TOTALS_KEY) as Partial<SafTotals> | undefined;
    const ok = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
    if (t === undefined || typeof t !== 'object' || !ok(t.count) || !ok(t.bytes) || !ok(t.senders) || !ok(t.nextId) || t.nextId < 1) throw this.#corrupt('the totals record is damaged');
    return { count: t.count, bytes: t.bytes, senders: t.senders, nextId: t.nextId };
  }

  #record(id: number): SafRecord | undefined {
    const raw = this.t.messages.get(idKey(id));
    if (raw === undefined) return undefined;
    try {
      return decodeSafRecord(id, raw);
    } catch (cause) {
      throw this.#corrupt(`a message record does not decode: ${(cause as Error).message}`, cause);
    }
  }

  #usage(sender: Uint8Array): SafUsage {
    const raw = this.t.senders.get(sender);
    if (raw === undefined) return { count: 0, bytes: 0 };
    if (raw.length !== 12) throw this.#corrupt('a sender usage record is damaged');
    return { count: readU32(raw, 0), bytes: readU64(raw, 4) };
  }

  /** Runs `write` as one all-or-nothing transaction; LMDB failures become SafStoreWriteFailed. */
  async #write<T>(write: () => T): Promise<T> {
    this.#check();
    try {
      return (await this.env.childTransaction(write)) as T;
    } catch (err) {
      if (err instanceof Error && 'kind' in err) throw err;
      throw new SafStoreWriteFailed(`store-and-forward store write failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** A rank index (lowest first) from `start` to `end`, lazily. */
  *#ranked(table: 'byRank' | 'bySender', start: Uint8Array, end: Uint8Array, offset: number): Generator<RankEntry> {
    for (const { key, value } of this.t[table].getRange({ start, end })) {
      yield { key, id: readU64(key, offset + 9), priority: key[offset] as SafPriority, storedAt: readU64(key, offset + 1), bytes: readU32(value, 0) };
    }
  }

  async put(message: SafMessageInit): Promise<SafPutResult> {
    this.#check();
    const m = normalisePut(message);
    const envelope = m.envelope.slice();
    return this.#write((): SafPutResult => {
      const totals = this.#totals();
      const expired = this.#sweep(totals, m.storedAt, Infinity);
      const done = (result: SafPutResult) => {
        if (expired.count > 0) this.env.putSync(SAF_TOTALS_KEY, totals);
        return result;
      };
      if (!envelopeSizeAllowed(envelope)) return done({ stored: false, reason: 'too_large', expired });
      if (m.retainUntil < m.storedAt) return done({ stored: false, reason: 'expired', expired });
      if (this.t.dedup.get(m.dedupKey) !== undefined) return done({ stored: false, reason: 'duplicate', expired });
      const bytes = envelope.length;
      const plan = planEviction({
        incoming: { priority: m.priority, storedAt: m.storedAt, bytes },
        limits: this.limits,
        peer: this.#usage(m.sender),
        total: totals,
        peerRanked: this.#ranked('bySender', m.sender, prefixEnd(m.sender, 17), 32),
        totalRanked: this.#ranked('byRank', EMPTY, prefixEnd(EMPTY, 17), 0),
      });
      if (plan === undefined) return done({ stored: false, reason: 'no_room', expired });
      const evicted: SafEvicted[] = plan.map(({ message, bound }) => {
        const record = this.#record(message.id);
        if (record === undefined) throw this.#corrupt(`message ${message.id} is in the rank index but has no record`);
        this.#delete(totals, record);
        return { id: record.id, destination: record.destination, sender: record.sender, bytes: record.bytes, bound };
      });
      const id = totals.nextId++;
      const record: SafRecord = { id, priority: m.priority, storedAt: m.storedAt, expires: m.expires, retainUntil: m.retainUntil, bytes, destination: m.destination, sender: m.sender, dedupKey: m.dedupKey };
      this.#insert(totals, record, envelope);
      this.env.putSync(SAF_TOTALS_KEY, totals);
      return { stored: true, id, retainUntil: m.retainUntil, evicted, expired };
    });
  }

  async messagesFor(destination: Uint8Array, options: SafFetchOptions): Promise<SafFetchResult> {
    this.#check();
    const { since, now, limit, maxBytes } = fetchWindow(options);
    const messages: SafServedMessage[] = [];
    let encodedBytes = 0;
    let more = false;
    if (destination.length === 32) {
      const start = destinationKey(destination, since, 0); // stored_at ≥ since (9.7)
      for (const { key, value } of this.t.byDestination.getRange({ start, end: prefixEnd(destination, 16) })) {
        if (readU64(value, 0) < now) continue; // past its retention, not yet swept
        const storedAt = readU64(key, 32);
        const size = storedMessageBytes(storedAt, readU32(value, 8));
        if (messages.length >= limit || encodedBytes + size > maxBytes) {
          more = true;
          break;
        }
        const id = readU64(key, 40);
        const envelope = this.t.envelopes.get(idKey(id));
        // Removed since this read began (a concurrent commit): not served.
        if (envelope === undefined) continue;
        messages.push({ id, storedAt: BigInt(storedAt), envelope: new Uint8Array(envelope.buffer, envelope.byteOffset, envelope.length) });
        encodedBytes += size;
      }
    }
    return { messages, ids: messages.map((m) => m.id), encodedBytes, more };
  }

  async messagesInRegion(region: SafRegion, options: SafFetchOptions): Promise<SafRegionResult> {
    this.#check();
    checkRegion(region);
    const window = fetchWindow(options);
    const candidates: Array<{ id: number; storedAt: number; bytes: number; destination: Uint8Array }> = [];
    for (const { key, value } of this.t.byNodeId.getRange(regionRange(region.center, region.prefixBits))) {
      const storedAt = readU64(key, 13);
      if (storedAt < window.since || readU64(value, 0) < window.now) continue;
      candidates.push({ id: readU64(key, 21), storedAt, bytes: readU32(value, 8), destination: value.slice(12, 44) });
    }
    candidates.sort((a, b) => a.storedAt - b.storedAt || a.id - b.id);
    const { taken, more } = takeForResponse(candidates, window);
    const messages: SafRegionMessage[] = [];
    let encodedBytes = 0;
    for (const c of taken) {
      const envelope = this.t.envelopes.get(idKey(c.id));
      if (envelope === undefined) continue; // removed since the scan (a concurrent commit)
      messages.push({ id: c.id, storedAt: BigInt(c.storedAt), envelope: new Uint8Array(envelope.buffer, envelope.byteOffset, envelope.length), destination: c.destination });
      encodedBytes += storedMessageBytes(c.storedAt, c.bytes);
    }
    return { messages, ids: messages.map((m) => m.id), encodedBytes, more };
  }

  async remove(destination: Uint8Array, ids: readonly SafMessageId[]): Promise<SafDropped> {
    this.#check();
    const hex = toHex(destination);
    const wanted = [...new Set(ids)].filter((id) => Number.isSafeInteger(id) && id > 0);
    return this.#write((): SafDropped => {
      const totals = this.#totals();
      let count = 0;
      let bytes = 0;
      for (const id of wanted) {
        const record = this.#record(id);
        if (record === undefined || toHex(record.destination) !== hex) continue;
        this.#delete(totals, record);
        count++;
        bytes += record.bytes;
      }
      if (count > 0) this.env.putSync(SAF_TOTALS_KEY, totals);
      return { count, bytes };
    });
  }

  async expire(now: number | bigint, max?: number): Promise<SafDropped & { readonly more: boolean }> {
    this.#check();
    const at = toSeconds(now, 'now');
    const bound = expireBound(max);
    return this.#write(() => {
      const totals = this.#totals();
      const dropped = this.#sweep(totals, at, bound);
      if (dropped.count > 0) this.env.putSync(SAF_TOTALS_KEY, totals);
      let more = false;
      for (const { key } of this.t.byExpiry.getRange({ limit: 1 })) more = readU64(key, 0) < at;
      return { ...dropped, more };
    });
  }

  async sinceOf(peer: Uint8Array): Promise<number> {
    this.#check();
    if (peer.length !== 32) return 0;
    const raw = this.t.cursors.get(peer);
    if (raw === undefined) return 0;
    const since = raw.length === 8 ? readU64(raw, 0) : NaN;
    if (Number.isNaN(since)) throw this.#corrupt('a cursor is damaged');
    return since;
  }

  async noteServed(peer: Uint8Array, storedAt: number | bigint): Promise<void> {
    this.#check();
    if (peer.length !== 32) throw new InternalError('SAF store: a peer key must be 32 bytes');
    const at = toSeconds(storedAt, 'storedAt');
    const key = peer.slice();
    await this.#write(() => {
      const raw = this.t.cursors.get(key);
      let count = this.#cursorCount();
      if (raw !== undefined) {
        const known = readU64(raw, 0);
        if (!(at > known)) return;
        this.t.cursorsBySince.removeSync(cursorKey(known, key));
      } else count++;
      this.t.cursors.putSync(key, idKey(at));
      this.t.cursorsBySince.putSync(cursorKey(at, key), EMPTY);
      // Over the bound: the stalest cursors go, by (since, key).
      for (const { key: stale } of this.t.cursorsBySince.getRange({ limit: Math.max(0, count - this.limits.maxCursors) })) {
        this.t.cursorsBySince.removeSync(stale);
        this.t.cursors.removeSync(stale.slice(8, 40));
        count--;
      }
      this.env.putSync(SAF_CURSORS_KEY, count);
    });
  }

  #cursorCount(): number {
    const n = (this.env.get(SAF_CURSORS_KEY) as unknown) ?? 0;
    if (!Number.isSafeInteger(n) || (n as number) < 0) throw this.#corrupt('the cursor count is damaged');
    return n as number;
  }

  async stats(): Promise<SafStats> {
    this.#check();
    const { count, bytes, senders } = this.#totals();
    return { count, bytes, senders };
  }

  async usageOf(sender: Uint8Array): Promise<SafUsage> {
    this.#check();
    return sender.length === 32 ? this.#usage(sender) : { count: 0, bytes: 0 };
  }

  /**
   * Checks that the records, the envelopes, every index and the totals agree (the crash tests
   * run it after a SIGKILL). Returns the problems found, none when sound.
   */
  async verify(): Promise<{ messages: number; problems: string[] }> {
    this.#check();
    const problems: string[] = [];
    const usage = new Map<string, { count: number; bytes: number }>();
    let messages = 0;
    let bytes = 0;
    for (const { key } of this.t.messages.getRange()) {
      const r = this.#record(readU64(key, 0))!;
      messages++;
      bytes += r.bytes;
      const u = usage.get(toHex(r.sender)) ?? { count: 0, bytes: 0 };
      usage.set(toHex(r.sender), { count: u.count + 1, bytes: u.bytes + r.bytes });
      const envelope = this.t.envelopes.get(key);
      if (envelope?.length !== r.bytes) problems.push(`message ${r.id}: envelope of ${envelope?.length} bytes, record says ${r.bytes}`);
      if (this.t.byDestination.get(destinationKey(r.destination, r.storedAt, r.id)) === undefined) problems.push(`message ${r.id} missing from saf-by-destination`);
      if (this.t.byExpiry.get(expiryKey(r.retainUntil, r.id)) === undefined) problems.push(`message ${r.id} missing from saf-by-expiry`);
      if (this.t.byRank.get(rankKey(r.priority, r.storedAt, r.id)) === undefined) problems.push(`message ${r.id} missing from saf-by-rank`);
      if (this.t.bySender.get(senderRankKey(r.sender, r.priority, r.storedAt, r.id)) === undefined) problems.push(`message ${r.id} missing from saf-by-sender`);
      if (this.t.byNodeId.get(nodeIdKey(nodeIdOf(r.destination), r.storedAt, r.id)) === undefined) problems.push(`message ${r.id} missing from saf-by-node-id`);
      const dedup = this.t.dedup.get(r.dedupKey);
      if (dedup === undefined || readU64(dedup, 0) !== r.id) problems.push(`message ${r.id} missing from saf-dedup`);
    }
    const counts = {
      envelopes: this.t.envelopes.getCount(),
      byDestination: this.t.byDestination.getCount(),
      byExpiry: this.t.byExpiry.getCount(),
      byRank: this.t.byRank.getCount(),
      byNodeId: this.t.byNodeId.getCount(),
      bySender: this.t.bySender.getCount(),
      dedup: this.t.dedup.getCount(),
    };
    for (const [table, n] of Object.entries(counts)) if (n !== messages) problems.push(`${table} has ${n} entries for ${messages} messages`);
    for (const { key, value } of this.t.senders.getRange()) {
      const u = usage.get(toHex(key));
      if (!u || u.count !== readU32(value, 0) || u.bytes !== readU64(value, 4)) problems.push(`sender ${toHex(key)}: usage does not match its messages`);
    }
    if (this.t.senders.getCount() !== usage.size) problems.push(`saf-senders has ${this.t.senders.getCount()} entries for ${usage.size} senders`);
    const cursors = this.t.cursors.getCount();
    if (this.t.cursorsBySince.getCount() !== cursors || this.#cursorCount() !== cursors) problems.push(`saf-cursors has ${cursors} entries, saf-cursors-by-since ${this.t.cursorsBySince.getCount()}, the count says ${this.#cursorCount()}`);
    const totals = this.#totals();
    if (totals.count !== messages || totals.bytes !== bytes || totals.senders !== usage.size) problems.push(`totals ${JSON.stringify(totals)} for ${messages} messages, ${bytes} bytes, ${usage.size} senders`);
    return { messages, problems };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await closeLmdbEnvironment(this.env, this.#release);
  }

  // --- Inside a write transaction ---------------------------------------------------------------

  /** Drops up to `max` messages whose retention ended before `now`, earliest first. */
  #sweep(totals: SafTotals, now: number, max: number): SafDropped {
    const due: number[] = [];
    if (max > 0) {
      for (const { key } of this.t.byExpiry.getRange({ end: expiryKey(now, 0) })) {
        due.push(readU64(key, 8));
        if (due.length >= max) break;
      }
    }
    let bytes = 0;
    for (const id of due) {
      const record = this.#record(id);
      if (record === undefined) throw this.#corrupt(`message ${id} is in the expiry index but has no record`);
      this.#delete(totals, record);
      bytes += record.bytes;
    }
    return { count: due.length, bytes };
  }

  #insert(totals: SafTotals, r: SafRecord, envelope: Uint8Array): void {
    const { t } = this;
    const id = idKey(r.id);
    t.messages.putSync(id, encodeSafRecord(r));
    t.envelopes.putSync(id, envelope);
    t.byDestination.putSync(destinationKey(r.destination, r.storedAt, r.id), destinationValue(r.retainUntil, r.bytes));
    t.byExpiry.putSync(expiryKey(r.retainUntil, r.id), EMPTY);
    t.byRank.putSync(rankKey(r.priority, r.storedAt, r.id), u32Value(r.bytes));
    t.bySender.putSync(senderRankKey(r.sender, r.priority, r.storedAt, r.id), u32Value(r.bytes));
    t.byNodeId.putSync(nodeIdKey(nodeIdOf(r.destination), r.storedAt, r.id), nodeIdValue(r.retainUntil, r.bytes, r.destination));
    t.dedup.putSync(r.dedupKey, id);
    const usage = this.#usage(r.sender);
    if (usage.count === 0) totals.senders++;
    t.senders.putSync(r.sender, usageValue(usage.count + 1, usage.bytes + r.bytes));
    totals.count++;
    totals.bytes += r.bytes;
  }

  #delete(totals: SafTotals, r: SafRecord): void {
    const { t } = this;
    const id = idKey(r.id);
    t.messages.removeSync(id);
    t.envelopes.removeSync(id);
    t.byDestination.removeSync(destinationKey(r.destination, r.storedAt, r.id));
    t.byExpiry.removeSync(expiryKey(r.retainUntil, r.id));
    t.byRank.removeSync(rankKey(r.priority, r.storedAt, r.id));
    t.bySender.removeSync(senderRankKey(r.sender, r.priority, r.storedAt, r.id));
    t.byNodeId.removeSync(nodeIdKey(nodeIdOf(r.destination), r.storedAt, r.id));
    t.dedup.removeSync(r.dedupKey);
    const usage = this.#usage(r.sender);
    if (usage.count <= 1) {
      t.senders.removeSync(r.sender);
      totals.senders--;
    } else {
      t.senders.putSync(r.sender, usageValue(usage.count - 1, usage.bytes - r.bytes));
    }
    totals.count--;
    totals.bytes -= r.bytes;
  }
}
