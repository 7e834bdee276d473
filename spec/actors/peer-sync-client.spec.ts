/**
 * The peer sync client's memory of the claims it stored (`SyncedClaims`): in on-connect mode a
 * claim a sync of this node stored lately, not newer, is checked again but not stored again; a
 * newer one is; without `skipSynced` (discovering) every valid claim is stored and noted.
 */
import { expect } from 'chai';
import { addressToBytes, parseAddress } from '../../core/address.js';
import { toHex } from '../../core/bytes.js';
import { SyncedClaims, syncPeersFrom, type PeerSyncInit } from '../../actors/network-discovery/index.js';
import { checkPeerClaim, createPeerClaim, type PeerClaim, type ValidatedClaim } from '../../protocols/dht/index.js';
import type { PeerSighting } from '../../storage/peer.js';
import { mergePeer, newPeer } from '../../storage/peer.js';
import { claimSighting } from '../../actors/discovery/claims.js';
import { seededIdentities } from '../support/dht-network.js';

const NOW = 1_800_000_000n;
const ids = seededIdentities('peer-sync-client-memo', 4);
const claimOf = (i: number, updatedAt: bigint): PeerClaim =>
  createPeerClaim(ids[i]!, { addresses: [addressToBytes(parseAddress(`/memory/${10 + i}`, { allowMemory: true }))], features: 1, userAgent: 'memo', updatedAt });

/** `claim`, checked as a sync checks it. */
function checkedClaim(claim: PeerClaim): ValidatedClaim {
  const check = checkPeerClaim(claim, { nowSeconds: NOW, allowMemory: true });
  if (!check.ok) throw new Error(check.reason);
  return check.claim;
}

/** The client's input for a sync of `claims` (served as GetPeers) into `storeMany`. */
function syncInit(claims: PeerClaim[], storeMany: PeerSyncInit['storeMany']): PeerSyncInit {
  return {
    client: { getPeers: async function* () { yield* claims; } } as unknown as PeerSyncInit['client'],
    self: ids[0]!.publicKey,
    n: 10,
    includeClients: false,
    nowSeconds: () => NOW,
    allowMemory: true,
    isBanned: () => false,
    storeMany,
  };
}

/** A sync of `claims` (served as GetPeers) into a store that records what it is given. */
async function sync(claims: PeerClaim[], synced: SyncedClaims, skipSynced: boolean, batches: number[] = []) {
  const stored: PeerSighting[] = [];
  const init: PeerSyncInit = {
    ...syncInit(claims, async (batch) => {
      batches.push(batch.length);
      stored.push(...batch);
      return batch.map((s) => newPeer(s, 1));
    }),
    synced,
    skipSynced,
  };
  const outcome = await syncPeersFrom(init);
  return { outcome, stored: stored.map((s) => toHex(s.publicKey)) };
}

describe('peer sync client: claims stored lately', () => {
  it('on connect, a claim stored lately and not newer is checked but not stored again; a newer one is', async () => {
    const synced = new SyncedClaims();
    const first = await sync([claimOf(1, NOW - 10n), claimOf(2, NOW - 10n)], synced, false);
    expect(first.stored).to.deep.equal([toHex(ids[1]!.publicKey), toHex(ids[2]!.publicKey)]);
    expect(synced.size).to.equal(2);
    const again = await sync([claimOf(1, NOW - 10n), claimOf(2, NOW - 5n), claimOf(3, NOW - 10n)], synced, true);
    expect(again.stored).to.deep.equal([toHex(ids[2]!.publicKey), toHex(ids[3]!.publicKey)]);
    expect(again.outcome).to.include({ ok: true, received: 3, stored: 2, skipped: 1 });
    expect(synced.stored(toHex(ids[2]!.publicKey), NOW - 5n)).to.equal(true);
  });

  it('discovering (no skipSynced) stores every valid claim, known or not', async () => {
    const synced = new SyncedClaims();
    await sync([claimOf(1, NOW - 10n)], synced, false);
    const again = await sync([claimOf(1, NOW - 10n)], synced, false);
    expect(again.stored).to.deep.equal([toHex(ids[1]!.publicKey)]);
  });

  it('a claim remembered is still checked: an invalid one is the server violation', async () => {
    const synced = new SyncedClaims();
    await sync([claimOf(1, NOW - 10n)], synced, false);
    const forged = claimOf(1, NOW - 10n);
    forged.signature!.signature = Uint8Array.from(forged.signature!.signature, (b, i) => (i === 0 ? b ^ 1 : b));
    const { outcome, stored } = await sync([forged], synced, true);
    expect(stored).to.deep.equal([]);
    expect(outcome.ok).to.equal(false);
    expect(!outcome.ok && outcome.violation).to.match(/invalid claim: signature/);
  });

  it("stores a sync's valid claims in one command; those before a violation are stored all the same", async () => {
    const batches: number[] = [];
    const synced = new SyncedClaims();
    const forged = claimOf(3, NOW - 10n);
    forged.signature!.signature = Uint8Array.from(forged.signature!.signature, (b, i) => (i === 0 ? b ^ 1 : b));
    const { outcome, stored } = await sync([claimOf(1, NOW - 10n), claimOf(2, NOW - 10n), forged], synced, false, batches);
    expect(outcome.ok).to.equal(false);
    expect(!outcome.ok && outcome.added).to.equal(2);
    expect(stored).to.deep.equal([toHex(ids[1]!.publicKey), toHex(ids[2]!.publicKey)]);
    expect(batches).to.deep.equal([2]);
    expect(synced.size).to.equal(2);
    const whole = await sync([claimOf(1, NOW - 5n), claimOf(2, NOW - 5n), claimOf(3, NOW - 5n)], synced, false, batches);
    expect(whole.outcome).to.include({ ok: true, received: 3, stored: 3, added: 3 });
    expect(batches).to.deep.equal([2, 3]);
  });

  it('a claim relayed older than the stored one is not counted as added (the store left the record as it was)', async () => {
    const newer = claimSighting(checkedClaim(claimOf(1, NOW - 5n)));
    // The record was made earlier from the newer claim and never written since.
    const outcome = await syncPeersFrom(syncInit([claimOf(1, NOW - 10n)], async (batch) => batch.map((s) => mergePeer(newPeer(newer, 1), s, 2))));
    expect(outcome).to.include({ ok: true, received: 1, stored: 1, added: 0 });
  });

  it('is bounded: the oldest claims are forgotten first', () => {
    const synced = new SyncedClaims(2);
    for (const i of [1, 2, 3]) synced.note(`k${i}`, 5n);
    expect(['k1', 'k2', 'k3'].map((k) => synced.stored(k, 5n))).to.deep.equal([false, true, true]);
    synced.note('k2', 4n);
    expect(synced.stored('k2', 5n)).to.equal(true);
  });
});
