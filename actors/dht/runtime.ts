/**
 * What the DHT's data path shares (PROTOCOL.md section 9): the node's keys and clock, the tables
 * the outbound side and the inbound pipeline both use, and the messaging sender. Made once per
 * node by `DhtService`.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { CryptoProvider } from '../../core/crypto/provider.js';
import type { PlainError } from '../../core/errors.js';
import type { NodeIdentity, PublicKey } from '../../core/keys.js';
import type { DhtReceiver } from '../../protocols/dht/index.js';
import type { SendOutcome } from '../outbox/outbox-queue.js';
import type { ConnectedPeers } from './connected-peers.js';
import type { DedupCache } from './dedup-cache.js';
import type { DhtConfig } from './dht-config.js';
import type { DhtStats } from './stats.js';

/** How the DHT hands an envelope to messaging (PROTOCOL.md section 6): one body to one peer. */
export interface DhtSender {
  send(to: PublicKey, body: Uint8Array): Promise<SendOutcome>;
}

/** The shared state of the DHT's data path. */
export interface DhtRuntime {
  readonly config: DhtConfig;
  readonly identity: NodeIdentity;
  readonly provider: CryptoProvider;
  readonly receiver: DhtReceiver;
  /** The node's clock (ms). */
  readonly now: () => number;
  /** Claims naming `/memory` are accepted (test networks). */
  readonly allowMemory: boolean;
  /** This node forwards (feature bit 0, 9.6). */
  readonly propagates: boolean;
  /** Largest messaging body (an envelope above it is not sent). */
  readonly maxMessageBytes: number;
  readonly connected: ConnectedPeers;
  readonly dedup: DedupCache;
  readonly stats: DhtStats;
  readonly messaging: DhtSender;
}

/** The node's clock in unix seconds. */
export const nowSeconds = (rt: Pick<DhtRuntime, 'now'>): bigint => BigInt(Math.floor(rt.now() / 1000));

/** A random integer in [0, n). */
export const randomBelow = (n: number): number => (n <= 1 ? 0 : randomInt(n));

/** A random u64 (nonces, message tags). */
export const randomU64 = (): bigint => randomBytes(8).readBigUInt64LE(0);

/** Counts a drop or violation under its reason. */
export function countReason(stats: DhtStats, reason: string): void {
  stats.byReason[reason] = (stats.byReason[reason] ?? 0) + 1;
}

/** An error in plain form. */
export const plainError = (name: string, message: string, kind: PlainError['kind']): PlainError => ({ name, message, kind });
