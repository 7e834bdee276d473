/**
 * The peer model (tari_comms' `Peer`, reshaped): what a node remembers of another node, and the
 * pure rules over it: merging a sighting into a record, address quality, bans, offline status.
 * Times are milliseconds since the epoch and always passed in (no clock is read here), so the
 * same rules run under a simulated clock.
 */
import { toHex } from '../core/bytes.js';
import type { NodeId, PublicKey } from '../core/keys.js';

/** Where an address came from. */
export type AddressSource = 'config' | 'identity' | 'peer-sync' | 'discovery' | 'inbound' | 'manual';

/** One address of a peer with what dialing it has taught us. */
export interface PeerAddressRecord {
  /** The multiaddr, in its canonical text form. */
  address: string;
  source: AddressSource;
  lastSeen?: number;
  lastAttempt?: number;
  lastSuccess?: number;
  lastFailure?: number;
  /** Dial attempts, in total. */
  attempts: number;
  /** Failures since the last success. */
  consecutiveFailures: number;
  /** Moving average of successful dial times (ms). */
  avgDialMs?: number;
  /** Moving average of round-trip latency (ms). */
  avgLatencyMs?: number;
  lastFailureReason?: string;
}

/** The latest signed identity claim (PROTOCOL.md section 5) that vouches for a peer's addresses. */
export interface IdentityClaim {
  version: number;
  /** Unix seconds, as signed. */
  updatedAt: number;
  features: number;
  /** The signed binary multiaddrs, in order. */
  addresses: Uint8Array[];
  signature: Uint8Array;
}

/** A stored peer: identity, addresses with their quality stats, claim, flags and ban. */
export interface Peer {
  publicKey: PublicKey;
  nodeId: NodeId;
  addresses: PeerAddressRecord[];
  /** Bit 0 message propagation, bit 1 store-and-forward. */
  features: number;
  /** Local flags (bit 0: seed peer). */
  flags: number;
  supportedProtocols: string[];
  userAgent: string;
  addedAt: number;
  updatedAt: number;
  bannedUntil?: number;
  banReason?: string;
  /** Soft delete: kept (so a ban or a claim is not forgotten), hidden from queries. */
  deletedAt?: number;
  claim?: IdentityClaim;
  /**
   * Learned only second-hand (relayed claims: peer sync, a JOIN, a discovery answer): never
   * seen first-hand (a connection, `addPeer`, a seed) nor dialled with success. See
   * {@link isUnverified}: the store keeps a bounded number of such records.
   */
  relayedOnly?: true;
}

/** What is learned about a peer in one sighting (a connection, a claim, configuration). */
export interface PeerSighting {
  publicKey: PublicKey;
  nodeId: NodeId;
  addresses?: Array<{ address: string; source: AddressSource }>;
  features?: number;
  flags?: number;
  supportedProtocols?: string[];
  userAgent?: string;
  claim?: IdentityClaim;
  /**
   * The claim was relayed by a third party (peer sync, a JOIN, a discovery answer), not given
   * by the peer itself on a connection. A relayed claim older than the stored one is stale: it
   * changes nothing (see {@link mergePeer}).
   */
  relayed?: boolean;
}

/** Feature bit 0: the peer propagates messages. */
export const FEATURE_MESSAGE_PROPAGATION = 1;
/** Feature bit 1: the peer stores and forwards messages. */
export const FEATURE_STORE_AND_FORWARD = 2;
/** Peer flag: a seed peer from the configuration. */
export const FLAG_SEED = 1;
/** Addresses kept per peer at most: the best ones by quality survive. */
export const MAX_ADDRESSES_PER_PEER = 16;

/** A new record from a first sighting. */
export function newPeer(s: PeerSighting, now: number): Peer {
  const peer: Peer = {
    publicKey: s.publicKey,
    nodeId: s.nodeId,
    addresses: [],
    features: s.features ?? 0,
    flags: s.flags ?? 0,
    supportedProtocols: [...(s.supportedProtocols ?? [])],
    userAgent: s.userAgent ?? '',
    addedAt: now,
    updatedAt: now,
  };
  if (s.relayed === true) peer.relayedOnly = true;
  return mergePeer(peer, s, now);
}

/**
 * Merges a sighting into a record: addresses are a union (stats kept, `lastSeen` refreshed,
 * bounded by quality), the newest signed claim wins (and its features), the sighting's
 * protocols, user agent and flags replace the old ones, a ban is kept. A soft-deleted peer seen
 * again is restored.
 *
 * A relayed claim older than the stored one changes nothing (the record itself is returned):
 * the peer has signed newer addresses since, and anyone may replay any claim it ever signed.
 * Merged, such claims would bring back addresses it left (an IP now someone else's), each
 * untried and so ranked above a working address that failed once (up to
 * {@link MAX_ADDRESSES_PER_PEER} of them could push it out), make an offline peer look
 * dialable again, set its unsigned user agent, and restore a record deleted by hand.
 */
export function mergePeer(existing: Peer, s: PeerSighting, now: number): Peer {
  if (s.relayed === true && s.claim !== undefined && existing.claim !== undefined && s.claim.updatedAt < existing.claim.updatedAt) return existing;
  const merged: Peer = { ...existing, addresses: existing.addresses.map((a) => ({ ...a })), updatedAt: now };
  for (const { address, source } of s.addresses ?? []) {
    const known = merged.addresses.find((a) => a.address === address);
    if (known) known.lastSeen = now;
    else merged.addresses.push({ address, source, lastSeen: now, attempts: 0, consecutiveFailures: 0 });
  }
  if (merged.addresses.length > MAX_ADDRESSES_PER_PEER) {
    merged.addresses = sortAddresses(merged.addresses, now).slice(0, MAX_ADDRESSES_PER_PEER);
  }
  if (s.claim && (!existing.claim || s.claim.updatedAt > existing.claim.updatedAt)) {
    merged.claim = s.claim;
    merged.features = s.claim.features;
  } else if (s.features !== undefined && !s.claim) merged.features = s.features;
  if (s.flags !== undefined) merged.flags = s.flags;
  if (s.supportedProtocols) merged.supportedProtocols = [...s.supportedProtocols];
  if (s.userAgent !== undefined) merged.userAgent = s.userAgent;
  if (s.relayed !== true) delete merged.relayedOnly; // seen first-hand (a connection, addPeer, a seed)
  delete merged.deletedAt;
  return merged;
}

/** A ban is kept when it is longer than the new one (the longest ban wins). */
export function banPeer(peer: Peer, until: number, reason: string, now: number): Peer {
  if (peer.bannedUntil !== undefined && peer.bannedUntil >= until) return peer;
  return { ...peer, bannedUntil: until, banReason: reason, updatedAt: now };
}

/** The peer with its ban lifted. */
export function unbanPeer(peer: Peer, now: number): Peer {
  const out = { ...peer, updatedAt: now };
  delete out.bannedUntil;
  delete out.banReason;
  return out;
}

/** Whether the peer is banned at `now` (ms). */
export function isBanned(peer: Peer, now: number): boolean {
  return peer.bannedUntil !== undefined && peer.bannedUntil > now;
}

/** Offline: it has addresses and every one of them failed its last attempt. */
export function isOffline(peer: Peer): boolean {
  return peer.addresses.length > 0 && peer.addresses.every((a) => a.consecutiveFailures > 0);
}

/**
 * Whether the record is unverified: learned only from relayed claims (which cost nothing to make:
 * a claim signed by its own fresh key is valid), never connected to, not added by the embedder,
 * not a seed, not banned (a ban is kept). The store keeps at most `maxUnverified` of them.
 */
export function isUnverified(peer: Peer): boolean {
  return peer.relayedOnly === true && peer.bannedUntil === undefined && (peer.flags & FLAG_SEED) === 0;
}

/** Whether the peer is soft-deleted. */
export function isDeleted(peer: Peer): boolean {
  return peer.deletedAt !== undefined;
}

/** Weight of the newest sample in the moving averages. */
const EWMA = 0.3;

function average(old: number | undefined, sample: number): number {
  return old === undefined ? sample : old * (1 - EWMA) + sample * EWMA;
}

/** The outcome of one dial attempt to one address. */
export type DialOutcome =
  | { kind: 'attempt' }
  | { kind: 'success'; dialMs: number; latencyMs?: number }
  | { kind: 'failure'; reason: string };

/** Records a dial attempt, success or failure on one address (unknown addresses are ignored). */
export function recordDial(peer: Peer, address: string, outcome: DialOutcome, now: number): Peer {
  const index = peer.addresses.findIndex((a) => a.address === address);
  if (index < 0) return peer;
  const a = { ...peer.addresses[index]! };
  let verified = false;
  switch (outcome.kind) {
    case 'attempt':
      a.attempts++;
      a.lastAttempt = now;
      break;
    case 'success':
      verified = true;
      a.lastSuccess = now;
      a.lastSeen = now;
      a.consecutiveFailures = 0;
      a.avgDialMs = average(a.avgDialMs, outcome.dialMs);
      if (outcome.latencyMs !== undefined) a.avgLatencyMs = average(a.avgLatencyMs, outcome.latencyMs);
      break;
    case 'failure':
      a.lastFailure = now;
      a.consecutiveFailures++;
      a.lastFailureReason = outcome.reason.slice(0, 200);
      break;
  }
  const addresses = peer.addresses.slice();
  addresses[index] = a;
  const out: Peer = { ...peer, addresses, updatedAt: now };
  if (verified) delete out.relayedOnly; // a successful connection
  return out;
}

/**
 * Quality of an address, higher is better: recent successes and low latency raise it, failures
 * (each one halving it) and age lower it. An address never tried sits in the middle, so it is
 * tried after proven ones and before failing ones.
 */
export function addressQuality(a: PeerAddressRecord, now: number): number {
  let score = 50;
  if (a.lastSuccess !== undefined) {
    const ageHours = Math.max(0, now - a.lastSuccess) / 3_600_000;
    score = 100 - Math.min(40, ageHours); // a success loses up to 40 points over 40 hours
    const latency = a.avgLatencyMs ?? a.avgDialMs;
    if (latency !== undefined) score -= Math.min(20, latency / 100); // up to 20 points for 2 s
  }
  score /= 2 ** Math.min(a.consecutiveFailures, 10);
  return score;
}

/** Addresses in the order to dial them: best quality first, ties by most recently seen. */
export function sortAddresses(addresses: readonly PeerAddressRecord[], now: number): PeerAddressRecord[] {
  return addresses
    .map((a) => ({ a, q: addressQuality(a, now) }))
    .sort((x, y) => y.q - x.q || (y.a.lastSeen ?? 0) - (x.a.lastSeen ?? 0))
    .map((x) => x.a);
}

/**
 * A deep copy of a peer record that shares nothing with it: every byte array is copied into a
 * plain Uint8Array of its own length (`structuredClone` would copy the whole buffer under a
 * view; `Buffer#slice` would share it), every address record and the claim are new objects.
 * Several times cheaper than `structuredClone` (the memory store copies on every read and
 * write). A field added to {@link Peer} that holds an object must be copied here: the store
 * compliance suite fails when anything is shared.
 */
export function clonePeer(p: Peer): Peer {
  const copy: Peer = {
    ...p,
    publicKey: new Uint8Array(p.publicKey) as PublicKey,
    nodeId: new Uint8Array(p.nodeId) as NodeId,
    addresses: p.addresses.map((a) => ({ ...a })),
    supportedProtocols: [...p.supportedProtocols],
  };
  if (p.claim !== undefined) {
    copy.claim = { ...p.claim, addresses: p.claim.addresses.map((a) => new Uint8Array(a)), signature: new Uint8Array(p.claim.signature) };
  }
  return copy;
}

/** The hex form used in logs, events and map keys. */
export function peerKeyHex(peer: Pick<Peer, 'publicKey'>): string {
  return toHex(peer.publicKey);
}
