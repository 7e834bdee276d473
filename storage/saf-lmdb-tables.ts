/**
 * The LMDB layout of the store-and-forward store (schema {@link SAF_SCHEMA_VERSION}), in one place:
 * the marker keys, the tables, and their binary keys and values. Integers are big-endian in keys
 * (so that LMDB's byte order is numeric order) and in values; times and ids are u64, kept below
 * 2^53.
 *
 * Main database: `tcomms.format` = `saf-store`, `tcomms.schema` = 1, `saf.totals` = the
 * {@link SafTotals} (msgpack). Named databases (keys -> values):
 * - `saf-messages`: id -> {@link SafRecord} (126 bytes: everything but the envelope);
 * - `saf-envelopes`: id -> the envelope, read only when served;
 * - `saf-by-destination`: destination ‖ stored_at ‖ id -> retain_until ‖ bytes: `messagesFor`
 *   is one range scan from (destination, since), and skips expired ones without reading them;
 * - `saf-by-expiry`: retain_until ‖ id -> (empty): `expire` reads only what it drops;
 * - `saf-by-rank`: priority ‖ stored_at ‖ id -> bytes: the store's eviction order;
 * - `saf-by-sender`: sender ‖ priority ‖ stored_at ‖ id -> bytes: each sending peer's;
 * - `saf-by-node-id`: NodeId of the destination ‖ stored_at ‖ id -> retain_until ‖ bytes ‖
 *   destination: a region query is one range scan of a NodeId prefix;
 * - `saf-dedup`: dedup key -> id: refuses a second copy of a message;
 * - `saf-senders`: sender -> count (u32) ‖ bytes (u64): per-peer usage without a scan;
 * - `saf-cursors`: peer -> since (u64), the largest stored_at it served this node (9.7);
 * - `saf-cursors-by-since`: since ‖ peer -> (empty): the stalest cursor, forgotten first.
 * `saf.cursors` in the main database counts the cursors.
 */
import type { Database, RootDatabase } from 'lmdb';
import type { SafPriority } from './saf-store.js';

/** Meta key holding the store's format name (the same key as the peer store's: each names its own format). */
export const SAF_FORMAT_KEY = 'tcomms.format';
/** The format name this code writes and reads. */
export const SAF_FORMAT_VALUE = 'saf-store';
/** Meta key holding the schema version. */
export const SAF_SCHEMA_KEY = 'tcomms.schema';
/** The schema this code writes. */
export const SAF_SCHEMA_VERSION = 1;
/** Meta key holding the {@link SafTotals}. */
export const SAF_TOTALS_KEY = 'saf.totals';

/** Meta key holding the number of cursors (a non-negative integer). */
export const SAF_CURSORS_KEY = 'saf.cursors';

/** A `saf-cursors-by-since` key: since ‖ peer (40 bytes). */
export function cursorKey(since: number, peer: Bytes): Bytes {
  const k = new Uint8Array(40);
  writeU64(k, 0, since);
  k.set(peer, 8);
  return k;
}

/** The store's running totals, updated in every write transaction. */
export interface SafTotals {
  /** Messages stored. */
  count: number;
  /** Their envelope bytes. */
  bytes: number;
  /** Sending peers with a message stored. */
  senders: number;
  /** The next message id (ids are never reused). */
  nextId: number;
}

type Bytes = Uint8Array;

/** The named databases of the environment. */
export interface SafTables {
  messages: Database<Bytes, Bytes>;
  envelopes: Database<Bytes, Bytes>;
  byDestination: Database<Bytes, Bytes>;
  byExpiry: Database<Bytes, Bytes>;
  byRank: Database<Bytes, Bytes>;
  byNodeId: Database<Bytes, Bytes>;
  bySender: Database<Bytes, Bytes>;
  dedup: Database<Bytes, Bytes>;
  senders: Database<Bytes, Bytes>;
  cursors: Database<Bytes, Bytes>;
  cursorsBySince: Database<Bytes, Bytes>;
}

/** The names of the tables, for a check that the environment holds nothing else. */
export const SAF_TABLE_NAMES = ['saf-messages', 'saf-envelopes', 'saf-by-destination', 'saf-by-expiry', 'saf-by-rank', 'saf-by-node-id', 'saf-by-sender', 'saf-dedup', 'saf-senders', 'saf-cursors', 'saf-cursors-by-since'] as const;

/** Opens (creating when missing) the tables of an environment. */
export function openSafTables(env: RootDatabase): SafTables {
  const table = (name: (typeof SAF_TABLE_NAMES)[number]) => env.openDB<Bytes, Bytes>({ name, keyEncoding: 'binary', encoding: 'binary' });
  return {
    messages: table('saf-messages'),
    envelopes: table('saf-envelopes'),
    byDestination: table('saf-by-destination'),
    byExpiry: table('saf-by-expiry'),
    byRank: table('saf-by-rank'),
    byNodeId: table('saf-by-node-id'),
    bySender: table('saf-by-sender'),
    dedup: table('saf-dedup'),
    senders: table('saf-senders'),
    cursors: table('saf-cursors'),
    cursorsBySince: table('saf-cursors-by-since'),
  };
}

// --- Integers -----------------------------------------------------------------------------------

const TWO_32 = 2 ** 32;

/** Writes a safe non-negative integer as a big-endian u64. */
export function writeU64(out: Uint8Array, offset: number, value: number): void {
  const hi = Math.floor(value / TWO_32);
  const lo = value - hi * TWO_32;
  out[offset] = hi >>> 24;
  out[offset + 1] = (hi >>> 16) & 0xff;
  out[offset + 2] = (hi >>> 8) & 0xff;
  out[offset + 3] = hi & 0xff;
  writeU32(out, offset + 4, lo);
}

/** Reads a big-endian u64 (a value at or above 2^53 is returned as NaN: never written by this code). */
export function readU64(bytes: Uint8Array, offset: number): number {
  const hi = readU32(bytes, offset);
  return hi >= 0x200000 ? NaN : hi * TWO_32 + readU32(bytes, offset + 4);
}

/** Writes a big-endian u32. */
export function writeU32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}

/** Reads a big-endian u32. */
export function readU32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) >>> 0) + (bytes[offset + 1]! << 16) + (bytes[offset + 2]! << 8) + bytes[offset + 3]!;
}

// --- Keys ---------------------------------------------------------------------------------------

/** An id key (`saf-messages`, `saf-envelopes`). */
export function idKey(id: number): Bytes {
  const k = new Uint8Array(8);
  writeU64(k, 0, id);
  return k;
}

/** A `saf-by-destination` key: destination ‖ stored_at ‖ id (48 bytes). */
export function destinationKey(destination: Bytes, storedAt: number, id: number): Bytes {
  const k = new Uint8Array(48);
  k.set(destination, 0);
  writeU64(k, 32, storedAt);
  writeU64(k, 40, id);
  return k;
}

/** A `saf-by-expiry` key: retain_until ‖ id (16 bytes). */
export function expiryKey(retainUntil: number, id: number): Bytes {
  const k = new Uint8Array(16);
  writeU64(k, 0, retainUntil);
  writeU64(k, 8, id);
  return k;
}

/** A `saf-by-rank` key: priority ‖ stored_at ‖ id (17 bytes). */
export function rankKey(priority: SafPriority, storedAt: number, id: number): Bytes {
  const k = new Uint8Array(17);
  k[0] = priority;
  writeU64(k, 1, storedAt);
  writeU64(k, 9, id);
  return k;
}

/** A `saf-by-sender` key: sender ‖ priority ‖ stored_at ‖ id (49 bytes). */
export function senderRankKey(sender: Bytes, priority: SafPriority, storedAt: number, id: number): Bytes {
  const k = new Uint8Array(49);
  k.set(sender, 0);
  k[32] = priority;
  writeU64(k, 33, storedAt);
  writeU64(k, 41, id);
  return k;
}

/** A `saf-by-node-id` key: NodeId ‖ stored_at ‖ id (29 bytes). */
export function nodeIdKey(nodeId: Bytes, storedAt: number, id: number): Bytes {
  const k = new Uint8Array(29);
  k.set(nodeId, 0);
  writeU64(k, 13, storedAt);
  writeU64(k, 21, id);
  return k;
}

/** The `saf-by-node-id` keys of a region: [start, end) over the NodeIds sharing its prefix. */
export function regionRange(center: Bytes, prefixBits: number): { start: Bytes; end: Bytes } {
  const start = new Uint8Array(29);
  const end = new Uint8Array(30).fill(0xff);
  for (let i = 0; i < 13; i++) {
    const keep = Math.max(0, Math.min(8, prefixBits - i * 8));
    const mask = (0xff << (8 - keep)) & 0xff;
    start[i] = center[i]! & mask;
    end[i] = (center[i]! & mask) | (~mask & 0xff);
  }
  return { start, end };
}

/** A `saf-by-node-id` value: retain_until ‖ bytes ‖ destination (44 bytes). */
export function nodeIdValue(retainUntil: number, bytes: number, destination: Bytes): Bytes {
  const v = new Uint8Array(44);
  writeU64(v, 0, retainUntil);
  writeU32(v, 8, bytes);
  v.set(destination, 12);
  return v;
}

/** The exclusive end of a range of keys that start with `prefix` and have `rest` more bytes. */
export function prefixEnd(prefix: Bytes, rest: number): Bytes {
  const k = new Uint8Array(prefix.length + rest + 1).fill(0xff);
  k.set(prefix, 0);
  return k;
}

// --- Values -------------------------------------------------------------------------------------

/** A u32 value (bytes of a message in the rank indexes). */
export function u32Value(value: number): Bytes {
  const v = new Uint8Array(4);
  writeU32(v, 0, value);
  return v;
}

/** A `saf-by-destination` value: retain_until ‖ bytes (12 bytes). */
export function destinationValue(retainUntil: number, bytes: number): Bytes {
  const v = new Uint8Array(12);
  writeU64(v, 0, retainUntil);
  writeU32(v, 8, bytes);
  return v;
}

/** A `saf-senders` value: count ‖ bytes (12 bytes). */
export function usageValue(count: number, bytes: number): Bytes {
  const v = new Uint8Array(12);
  writeU32(v, 0, count);
  writeU64(v, 4, bytes);
  return v;
}

/** Everything stored about a message but its envelope. */
export interface SafRecord {
  readonly id: number;
  readonly priority: SafPriority;
  readonly storedAt: number;
  readonly expires: number;
  readonly retainUntil: number;
  readonly bytes: number;
  readonly destination: Bytes;
  readonly sender: Bytes;
  readonly dedupKey: Bytes;
}

/** The record layout's version byte (a later layout gets another, read by a migration). */
const RECORD_V1 = 1;
/** version (1) ‖ priority (1) ‖ stored_at, expires, retain_until (8 each) ‖ bytes (4) ‖ destination, sender, dedup key (32 each). */
const RECORD_LENGTH = 126;

/** Encodes a record (the id is the key, not stored again). */
export function encodeSafRecord(r: SafRecord): Bytes {
  const v = new Uint8Array(RECORD_LENGTH);
  v[0] = RECORD_V1;
  v[1] = r.priority;
  writeU64(v, 2, r.storedAt);
  writeU64(v, 10, r.expires);
  writeU64(v, 18, r.retainUntil);
  writeU32(v, 26, r.bytes);
  v.set(r.destination, 30);
  v.set(r.sender, 62);
  v.set(r.dedupKey, 94);
  return v;
}

/** Decodes a record; throws a plain Error when it is not one (the store reports SafStoreCorrupt). */
export function decodeSafRecord(id: number, v: Bytes): SafRecord {
  if (v.length !== RECORD_LENGTH || v[0] !== RECORD_V1) throw new Error(`message ${id}: a record of ${v.length} bytes, version ${v[0]}`);
  const priority = v[1];
  if (priority !== 0 && priority !== 1) throw new Error(`message ${id}: priority ${priority}`);
  const record = {
    id,
    priority: priority as SafPriority,
    storedAt: readU64(v, 2),
    expires: readU64(v, 10),
    retainUntil: readU64(v, 18),
    bytes: readU32(v, 26),
    destination: v.slice(30, 62),
    sender: v.slice(62, 94),
    dedupKey: v.slice(94, 126),
  };
  if (Number.isNaN(record.storedAt) || Number.isNaN(record.expires) || Number.isNaN(record.retainUntil)) throw new Error(`message ${id}: a time out of range`);
  return record;
}
