/**
 * The claims a node's peer syncs stored lately (by public key hex: the claim's `updated_at`), so
 * that a claim received again, not newer, is checked (9.8: every claim is re-validated) but not
 * written to the peer store again. In on-connect mode every connection is synced and each sync
 * brings up to 100 claims, most of them already stored: a write of one would only refresh its
 * addresses' `lastSeen` (a relayed claim proves no liveness), and it cost an ask of the peer
 * manager, a store update and a `peer.updated` fact each (memorynet: most of a start-up's CPU).
 * Bounded (oldest first out): a forgotten claim is only written once more. A record deleted from
 * the store meanwhile (`peer.delete`, by hand) comes back with a newer claim, or through a JOIN, a
 * discovery or a connection, not through a sync of the same claim.
 */
import { BoundedMap } from '../../core/bounded-map.js';

/** Entries at most: about 150 bytes each. */
export const SYNCED_CLAIMS_MAX = 4_096;

/** What a sync remembers of the claims it stored (see the module comment). */
export class SyncedClaims {
  readonly #updatedAt: BoundedMap<string, bigint>;

  constructor(max = SYNCED_CLAIMS_MAX) {
    this.#updatedAt = new BoundedMap(max);
  }

  /** Whether a claim of `hex` signed at `updatedAt` (or later) was stored lately. */
  stored(hex: string, updatedAt: bigint): boolean {
    const last = this.#updatedAt.get(hex);
    return last !== undefined && last >= updatedAt;
  }

  /** A claim of `hex` signed at `updatedAt` was stored. */
  note(hex: string, updatedAt: bigint): void {
    const last = this.#updatedAt.get(hex);
    if (last === undefined || updatedAt > last) this.#updatedAt.set(hex, updatedAt);
  }

  /** Claims remembered now. */
  get size(): number {
    return this.#updatedAt.size;
  }
}
