/** What runs where: the in-thread path or the worker pool. Chosen from `npm run bench` figures. */
import { ConfigError } from '../core/errors.js';
import type { X25519Service } from '../workers/x25519-service.js';

/** What runs in-thread and what on the worker pool. */
export interface CryptoPolicy {
  /** Run each handshake message's DH operations as a pool task. */
  handshakeOnPool: boolean;
  /** Writes (and received chunks) of at least this many bytes are sealed (opened) on the pool; Infinity = never. */
  bulkPoolThreshold: number;
  /** Pool batches in flight per direction of one channel before backpressure applies. */
  maxInFlight: number;
  /**
   * Every scalar multiplication of a handshake (key pairs, made ahead of time, and DH) on one
   * pool thread, the {@link X25519Service}; the rest of the handshake stays on this thread.
   * Needs a pool executor; ignored when `handshakeOnPool` is set, and when transport frames also
   * go to a pool of one thread (the service holds its thread for good).
   */
  x25519OnPool: boolean;
}

/**
 * Defaults measured by `npm run bench` on the 2-core machines (see README, "Why these defaults"):
 * - transport frames in-thread: a pool round trip (tens of us plus copies) costs more than
 *   sealing or opening a frame of any size;
 * - handshakes in-thread, but their scalar multiplications on the X25519 service when an
 *   executor is given (a comms node always gives one, the process's shared pool): 2,736 vs
 *   1,733 handshakes/s with 32 concurrent pairs, and no slower one at a time. Moving whole
 *   handshake messages to the pool (`handshakeOnPool`) is slower than either.
 */
export const DEFAULT_CRYPTO_POLICY: Readonly<CryptoPolicy> = Object.freeze({
  handshakeOnPool: false,
  bulkPoolThreshold: Number.POSITIVE_INFINITY,
  maxInFlight: 4,
  x25519OnPool: true,
});

/** Validate a policy; throws ConfigError. */
export function validateCryptoPolicy(policy: CryptoPolicy): CryptoPolicy {
  if (!(policy.bulkPoolThreshold >= 1)) throw new ConfigError('bulkPoolThreshold must be >= 1 (or Infinity)');
  if (!Number.isInteger(policy.maxInFlight) || policy.maxInFlight < 1 || policy.maxInFlight > 64) {
    throw new ConfigError('maxInFlight must be an integer in 1..64');
  }
  return policy;
}
