/**
 * The client side of peer sync, `/tari/dht/1` (PROTOCOL.md 9.8): one `GetPeers` call to one node
 * (or, given `closerTo`, one `GetCloserPeers` for the claims nearest that NodeId), every claim it
 * streams checked again as any relayed claim is (9.5). An invalid claim, or more claims than asked
 * for, is the server's violation: the call is cancelled there and the outcome names the violation
 * (the caller reports it for a ban, 9.9). A valid claim of a peer this node banned, of this node
 * itself, or naming an address kind it does not accept (`/memory` where test addresses are off)
 * is skipped, and so is, with `skipSynced`, one this node's syncs stored lately, not newer
 * (`SyncedClaims`); the others go to the peer store.
 */
import { equals, toHex } from '../../core/bytes.js';
import { toPlainError, type PlainError } from '../../core/errors.js';
import type { NodeId, PublicKey } from '../../core/keys.js';
import type { PeerSync } from '../../proto/gen/tcomms/dht/dht_pb.js';
import { checkPeerClaim } from '../../protocols/dht/index.js';
import type { RpcClient } from '../../protocols/rpc/index.js';
import type { Peer, PeerSighting } from '../../storage/peer.js';
import { claimSighting } from '../discovery/claims.js';
import type { SyncedClaims } from './synced-claims.js';

/** What one sync needs. */
export interface PeerSyncInit {
  /** A typed client of the server's `PeerSync`. */
  client: RpcClient<typeof PeerSync>;
  /** This node's key (its own claim is skipped). */
  self: PublicKey;
  /** `GetPeersRequest.n` (1..1,000), or `GetCloserPeersRequest.n` (1..100) with `closerTo`. */
  n: number;
  /** Ask for the `n` claims nearest this NodeId (`GetCloserPeers`) instead of `n` random ones (`GetPeers`). */
  closerTo?: NodeId | undefined;
  includeClients: boolean;
  /** The node's clock, unix seconds (a claim's `updated_at` is judged by it). */
  nowSeconds: () => bigint;
  /** This node accepts `/memory` addresses. */
  allowMemory: boolean;
  /** True while this node bans `publicKey`. */
  isBanned: (publicKey: PublicKey) => boolean;
  /** Stores claims' sightings (one command for a sync's claims); resolves with the stored peers, in order. */
  storeMany: (sightings: readonly PeerSighting[]) => Promise<Peer[]>;
  /** The claims this node's syncs stored lately (each stored one is noted) ... */
  synced?: SyncedClaims | undefined;
  /** ... and whether one of them, not newer, is checked but not stored again (on-connect mode). */
  skipSynced?: boolean | undefined;
  /** Aborting cancels the call. */
  signal?: AbortSignal | undefined;
}

/** What a sync came to. */
export type PeerSyncOutcome =
  /** The server answered: `received` claims, `stored` of them new or newer, `skipped` valid but not stored. */
  | { readonly ok: true; readonly received: number; readonly stored: number; readonly added: number; readonly skipped: number }
  /** The call failed (the server unreachable, refused, or a non-Ok status), or the server broke 9.8 (`violation`). */
  | { readonly ok: false; readonly error: PlainError; readonly violation?: string | undefined; readonly added: number };

/** Syncs from one server (see the module comment). Never rejects. */
export async function syncPeersFrom(init: PeerSyncInit): Promise<PeerSyncOutcome> {
  const cancel = new AbortController();
  const onAbort = () => cancel.abort();
  init.signal?.addEventListener('abort', onAbort);
  let received = 0;
  let stored = 0;
  let added = 0;
  let skipped = 0;
  const seen = new Set<string>();
  // The valid claims to store, stored together once the answer ends (or breaks off: those
  // received before a violation or a failure are valid claims all the same). At most `n`.
  const pending: Array<{ hex: string; updatedAt: bigint; sighting: PeerSighting }> = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending.splice(0);
    const peers = await init.storeMany(batch.map((p) => p.sighting));
    batch.forEach((p, i) => {
      init.synced?.note(p.hex, p.updatedAt);
      stored++;
      // A record made by this sighting: its first write is its last (the store stamps both at
      // once), and its claim is this one (a stale claim leaves an older record as it was).
      const peer = peers[i];
      if (peer && peer.addedAt === peer.updatedAt && peer.claim?.updatedAt === Number(p.updatedAt)) added++;
    });
  };
  const violation = async (reason: string): Promise<PeerSyncOutcome> => {
    cancel.abort();
    await flush().catch(() => undefined);
    return { ok: false, error: { name: 'PeerSyncViolation', message: reason, kind: 'protocol' }, violation: reason, added };
  };
  try {
    const claims =
      init.closerTo === undefined
        ? init.client.getPeers({ n: init.n, includeClients: init.includeClients }, { signal: cancel.signal })
        : init.client.getCloserPeers({ n: init.n, closerTo: init.closerTo, includeClients: init.includeClients }, { signal: cancel.signal });
    for await (const claim of claims) {
      received++;
      if (received > init.n) return violation(`more than the ${init.n} claims asked for`);
      const check = checkPeerClaim(claim, { nowSeconds: init.nowSeconds(), allowMemory: init.allowMemory });
      if (!check.ok) return violation(`invalid claim: ${check.reason}`);
      const publicKey = check.claim.publicKey as PublicKey;
      const hex = toHex(publicKey);
      if (check.ignored || seen.has(hex) || equals(publicKey, init.self) || init.isBanned(publicKey)) {
        skipped++;
        continue;
      }
      seen.add(hex);
      if (init.skipSynced && init.synced?.stored(hex, check.claim.updatedAt)) {
        skipped++;
        continue;
      }
      const fromClaim = claimSighting(check.claim);
      const sighting: PeerSighting = { ...fromClaim, addresses: (fromClaim.addresses ?? []).map((a) => ({ address: a.address, source: 'peer-sync' as const })) };
      pending.push({ hex, updatedAt: check.claim.updatedAt, sighting });
    }
    await flush();
    return { ok: true, received, stored, added, skipped };
  } catch (err) {
    await flush().catch(() => undefined);
    return { ok: false, error: toPlainError(err), added };
  } finally {
    init.signal?.removeEventListener('abort', onAbort);
  }
}
