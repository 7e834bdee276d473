/**
 * Peer records as stored (schema version {@link SCHEMA_VERSION}): a plain object that LMDB's
 * msgpack encoding stores compactly. Decoding checks the shape, so a damaged record is a typed
 * {@link PeerStoreCorrupt}, never a half-read peer.
 */
import { NODE_ID_LENGTH, PUBLIC_KEY_LENGTH, type NodeId, type PublicKey } from '../core/keys.js';
import type { AddressSource, IdentityClaim, Peer, PeerAddressRecord } from './peer.js';

/** The record schema version written. */
export const SCHEMA_VERSION = 1;

/** A stored peer record, schema version 1. */
export interface PeerRecordV1 {
  pk: Uint8Array;
  id: Uint8Array;
  a: PeerAddressRecord[];
  f: number;
  fl: number;
  sp: string[];
  ua: string;
  ad: number;
  up: number;
  bu?: number;
  br?: string;
  del?: number;
  c?: { v: number; u: number; f: number; a: Uint8Array[]; s: Uint8Array };
  /** 1: learned only from relayed claims (`Peer.relayedOnly`; absent in records written before it). */
  ro?: 1;
}

/** A peer as its stored bytes. */
export function encodeRecord(p: Peer): PeerRecordV1 {
  const r: PeerRecordV1 = { pk: p.publicKey, id: p.nodeId, a: p.addresses.map(stripUndefined), f: p.features, fl: p.flags, sp: p.supportedProtocols, ua: p.userAgent, ad: p.addedAt, up: p.updatedAt };
  if (p.bannedUntil !== undefined) r.bu = p.bannedUntil;
  if (p.banReason !== undefined) r.br = p.banReason;
  if (p.deletedAt !== undefined) r.del = p.deletedAt;
  if (p.relayedOnly === true) r.ro = 1;
  if (p.claim) r.c = { v: p.claim.version, u: p.claim.updatedAt, f: p.claim.features, a: p.claim.addresses, s: p.claim.signature };
  return r;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

class Bad extends Error {}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Bad(`${what} is not a number`);
  return v;
}
function optNum(v: unknown, what: string): number | undefined {
  return v === undefined || v === null ? undefined : num(v, what);
}
function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new Bad(`${what} is not a string`);
  return v;
}
function bytes(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new Bad(`${what} is not bytes`);
  return new Uint8Array(v);
}
function sized(v: unknown, n: number, what: string): Uint8Array {
  const b = bytes(v, what);
  if (b.length !== n) throw new Bad(`${what} is ${b.length} bytes`);
  return b;
}
function array(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new Bad(`${what} is not a list`);
  return v;
}

const SOURCES = new Set<AddressSource>(['config', 'identity', 'peer-sync', 'discovery', 'inbound', 'manual']);

/** Decodes a record; throws an Error naming the bad field (the store wraps it into PeerStoreCorrupt). */
export function decodeRecord(raw: unknown): Peer {
  if (typeof raw !== 'object' || raw === null) throw new Bad('record is not an object');
  const r = raw as Record<string, unknown>;
  const addresses = array(r.a, 'addresses').map((x, i): PeerAddressRecord => {
    const a = x as Record<string, unknown>;
    const source = str(a.source, `address ${i} source`) as AddressSource;
    if (!SOURCES.has(source)) throw new Bad(`address ${i} source ${source}`);
    const out: PeerAddressRecord = { address: str(a.address, `address ${i}`), source, attempts: num(a.attempts, 'attempts'), consecutiveFailures: num(a.consecutiveFailures, 'failures') };
    for (const k of ['lastSeen', 'lastAttempt', 'lastSuccess', 'lastFailure', 'avgDialMs', 'avgLatencyMs'] as const) {
      const v = optNum(a[k], k);
      if (v !== undefined) out[k] = v;
    }
    if (a.lastFailureReason !== undefined) out.lastFailureReason = str(a.lastFailureReason, 'failure reason');
    return out;
  });
  const peer: Peer = {
    // Keys were validated when first stored; decoding only checks their length (no point math).
    publicKey: sized(r.pk, PUBLIC_KEY_LENGTH, 'public key') as PublicKey,
    nodeId: sized(r.id, NODE_ID_LENGTH, 'node id') as NodeId,
    addresses,
    features: num(r.f, 'features'),
    flags: num(r.fl, 'flags'),
    supportedProtocols: array(r.sp, 'protocols').map((p) => str(p, 'protocol')),
    userAgent: str(r.ua, 'user agent'),
    addedAt: num(r.ad, 'added'),
    updatedAt: num(r.up, 'updated'),
  };
  const bu = optNum(r.bu, 'banned until');
  if (bu !== undefined) peer.bannedUntil = bu;
  if (r.br !== undefined) peer.banReason = str(r.br, 'ban reason');
  const del = optNum(r.del, 'deleted');
  if (del !== undefined) peer.deletedAt = del;
  if (r.ro === 1) peer.relayedOnly = true;
  else if (r.ro !== undefined && r.ro !== null) throw new Bad('relayed-only mark is not 1');
  if (r.c !== undefined) {
    const c = r.c as Record<string, unknown>;
    const claim: IdentityClaim = {
      version: num(c.v, 'claim version'),
      updatedAt: num(c.u, 'claim time'),
      features: num(c.f, 'claim features'),
      addresses: array(c.a, 'claim addresses').map((x) => bytes(x, 'claim address')),
      signature: bytes(c.s, 'claim signature'),
    };
    peer.claim = claim;
  }
  return peer;
}
