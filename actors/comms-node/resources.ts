/**
 * What a node opens before its components start and releases after they stopped: the peer
 * store (and the bans in force, loaded from it), the worker pool, and the Noise channel every
 * upgrade uses. These are the root actor's `openResources` and `releaseResources`.
 */
import { fromPromise } from 'xstate';
import { MemoryBudget } from '../../core/budget.js';
import { cryptoProvider } from '../../core/crypto/index.js';
import { AbortedError } from '../../core/errors.js';
import { DEFAULT_CRYPTO_POLICY } from '../../channels/crypto-policy.js';
import { NoiseSecureChannel, noiseStaticKeys } from '../../channels/secure-channel.js';
import { DEFAULT_TURN_BYTES, TurnBudget } from '../../channels/turn-budget.js';
import { BanList } from '../../storage/ban-list.js';
import { LmdbPeerStore } from '../../storage/lmdb-store.js';
import { MemoryPeerStore } from '../../storage/memory-store.js';
import { isBanned } from '../../storage/peer.js';
import type { PeerStore } from '../../storage/peer-store.js';
import { LmdbSafStore } from '../../storage/saf-lmdb-store.js';
import { MemorySafStore } from '../../storage/saf-memory-store.js';
import type { SafStore } from '../../storage/saf-store.js';
import { PoolExecutor } from '../../workers/executor.js';
import { acquireSharedPool, releaseSharedPool } from '../../workers/shared-pool.js';
import { X25519Service } from '../../workers/x25519-service.js';
import type { CommsConfig } from './config.js';

/** A node's resources (see the module comment). */
export interface NodeResources {
  store: PeerStore;
  /** The bans in force, loaded from the store; the peer manager keeps it in step. */
  bans: BanList;
  /** The worker pool, when the crypto policy uses one. */
  pool: PoolExecutor | undefined;
  /** True when `pool` is the process's shared pool (released, not closed, at stop). */
  sharedPool: boolean;
  channel: NoiseSecureChannel;
  /** What all peers together may make this node hold; each connection's budget is a child of it. */
  memory: MemoryBudget;
  /** The work per turn of the event loop this node's connections share (their secure channels' reads and their peers' stream opens). */
  turns: TurnBudget;
  /** The store-and-forward store (9.7), when the node runs store-and-forward; closed at release. */
  saf: SafStore | undefined;
}

/** Input of {@link openResources}. */
export interface OpenResourcesInput {
  config: CommsConfig;
  now: () => number;
}

/** Input of {@link releaseResources}: what was opened, and whether the peer manager closed the store. */
export interface ReleaseResourcesInput {
  resources: NodeResources | undefined;
  storeClosed: boolean;
}

function openSafStore(config: CommsConfig): Promise<SafStore | undefined> | SafStore | undefined {
  const c = config.saf;
  if (!c) return undefined;
  const s = c.storage;
  return s.kind === 'lmdb' ? LmdbSafStore.open({ path: s.path, limits: c.limits }) : s.kind === 'memory' ? new MemorySafStore({ limits: c.limits }) : s.store;
}

function openStore(config: CommsConfig): Promise<PeerStore> | PeerStore {
  const c = config.peerStore;
  const maxUnverified = config.peers.maxUnverified;
  return c.kind === 'lmdb' ? LmdbPeerStore.open({ path: c.path, maxUnverified }) : c.kind === 'memory' ? new MemoryPeerStore({ maxUnverified }) : c.store;
}

/** The pool the crypto policy asks for: the node's own, the process's shared one (the X25519 service alone), or none. */
function poolFor(config: CommsConfig): { pool: PoolExecutor | undefined; sharedPool: boolean } {
  const policy = { ...DEFAULT_CRYPTO_POLICY, ...config.crypto.policy };
  if (policy.handshakeOnPool || policy.bulkPoolThreshold < Infinity || (policy.x25519OnPool && config.crypto.poolThreads !== undefined)) {
    return { pool: new PoolExecutor(config.crypto.poolThreads === undefined ? {} : { threads: config.crypto.poolThreads }), sharedPool: false };
  }
  // The X25519 service alone: one thread for the whole process, however many nodes run.
  if (policy.x25519OnPool) return { pool: acquireSharedPool(), sharedPool: true };
  return { pool: undefined, sharedPool: false };
}

async function release(pool: PoolExecutor | undefined, sharedPool: boolean): Promise<void> {
  if (!pool) return;
  if (sharedPool) return releaseSharedPool(pool).catch(() => undefined);
  X25519Service.closeAll(pool);
  await pool.close().catch(() => undefined);
}

/** Opens the store, loads its bans, takes the pool and makes the Noise channel. A stop meanwhile undoes what was done. */
export const openResources = fromPromise<NodeResources, OpenResourcesInput>(async ({ input, signal }) => {
  const { config } = input;
  const store = await openStore(config);
  let saf: SafStore | undefined;
  try {
    saf = await openSafStore(config);
    const bans = new BanList();
    for (const p of await store.all((peer) => isBanned(peer, input.now()))) bans.ban(p.publicKey, p.bannedUntil!);
    if (signal.aborted) throw new AbortedError('the node was stopped while starting');
    const { pool, sharedPool } = poolFor(config);
    const provider = cryptoProvider(config.crypto.provider);
    const turns = new TurnBudget(DEFAULT_TURN_BYTES);
    const channel = new NoiseSecureChannel({
      staticKeys: noiseStaticKeys(config.identity, provider),
      pattern: config.pattern,
      networkByte: config.networkByte,
      provider,
      policy: config.crypto.policy,
      recvTimeoutMs: config.timeouts.handshakeRecvMs,
      turns,
      ...(pool ? { executor: pool } : {}),
    });
    return { store, bans, pool, sharedPool, channel, memory: new MemoryBudget(config.limits.maxNodeMemory), turns, saf };
  } catch (err) {
    await saf?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
});

/** Releases the pool, and closes the store when the peer manager did not (it never started, or did not stop in time). */
export const releaseResources = fromPromise<void, ReleaseResourcesInput>(async ({ input }) => {
  const r = input.resources;
  if (!r) return;
  if (!input.storeClosed) await r.store.close().catch(() => undefined);
  // Every write to it was committed when acknowledged; the close waits for the flush to disk.
  await r.saf?.close().catch(() => undefined);
  await release(r.pool, r.sharedPool);
});
