import { expect } from 'chai';
import {
  addressQuality,
  banPeer,
  isBanned,
  isOffline,
  MAX_ADDRESSES_PER_PEER,
  mergePeer,
  newPeer,
  recordDial,
  sortAddresses,
  unbanPeer,
  type IdentityClaim,
} from '../../storage/peer.js';
import { randomSighting } from '../support/peers.js';

const claim = (updatedAt: number, features: number): IdentityClaim => ({ version: 0, updatedAt, features, addresses: [], signature: new Uint8Array(64) });

describe('peer rules', () => {
  it('merges a sighting: address union with stats kept, newest claim wins, latest protocols and agent', () => {
    const s = randomSighting({ claim: claim(100, 1), supportedProtocols: ['/a'], userAgent: 'v1' });
    let p = newPeer(s, 10);
    const first = s.addresses![0]!.address;
    p = recordDial(p, first, { kind: 'success', dialMs: 40 }, 11);
    const merged = mergePeer(p, { ...s, addresses: [{ address: first, source: 'peer-sync' }, { address: '/dns4/b.example/tcp/1', source: 'peer-sync' }], claim: claim(50, 2), supportedProtocols: ['/b'], userAgent: 'v2' }, 20);
    expect(merged.addresses.map((a) => a.address)).to.deep.equal([first, '/dns4/b.example/tcp/1']);
    expect(merged.addresses[0]).to.deep.include({ avgDialMs: 40, lastSeen: 20, source: 'identity' });
    expect(merged.claim!.updatedAt).to.equal(100); // the older claim lost
    expect(merged.features).to.equal(1);
    expect(merged.supportedProtocols).to.deep.equal(['/b']);
    expect(merged.userAgent).to.equal('v2');
    expect(merged.updatedAt).to.equal(20);
    expect(merged.addedAt).to.equal(10);
    const newer = mergePeer(merged, { ...s, claim: claim(200, 3) }, 30);
    expect(newer.claim!.updatedAt).to.equal(200);
    expect(newer.features).to.equal(3);
  });

  it('a relayed claim older than the stored one changes nothing: no address, no user agent, no restored record', () => {
    const own = randomSighting({ claim: claim(100, 1), userAgent: 'own', addresses: [{ address: '/ip4/1.1.1.1/tcp/1', source: 'identity' }] });
    let p = newPeer(own, 10);
    p = recordDial(p, '/ip4/1.1.1.1/tcp/1', { kind: 'success', dialMs: 20 }, 11);
    p = recordDial(p, '/ip4/1.1.1.1/tcp/1', { kind: 'failure', reason: 'reset' }, 12);
    // A third party replays an address the peer has since left (its own older claim).
    const replayed = { ...own, addresses: [{ address: '/ip4/9.9.9.9/tcp/1', source: 'peer-sync' as const }], claim: claim(50, 1), userAgent: 'forged', relayed: true };
    expect(mergePeer(p, replayed, 20)).to.equal(p);
    const deleted = { ...p, deletedAt: 15 };
    expect(mergePeer(deleted, replayed, 20).deletedAt).to.equal(15);
    // Offline (its one address failed), it stays so: the stale address would have made it look dialable.
    expect(isOffline(mergePeer(p, replayed, 20))).to.equal(true);
    // The same claim relayed, or a newer one, merges as before; so does the peer's own word.
    const same = mergePeer(p, { ...replayed, claim: claim(100, 1) }, 20);
    expect(same.addresses.map((a) => a.address)).to.deep.equal(['/ip4/1.1.1.1/tcp/1', '/ip4/9.9.9.9/tcp/1']);
    expect(mergePeer(deleted, { ...replayed, claim: claim(200, 1) }, 20).deletedAt).to.equal(undefined);
    expect(mergePeer(p, { ...replayed, relayed: false }, 20).addresses).to.have.length(2);
  });

  it('keeps the longest ban; bans expire with time; unban clears', () => {
    const p = newPeer(randomSighting(), 0);
    const long = banPeer(p, 1000, 'flood', 0);
    expect(banPeer(long, 500, 'minor', 1).bannedUntil).to.equal(1000);
    expect(banPeer(long, 500, 'minor', 1).banReason).to.equal('flood');
    expect(banPeer(long, 2000, 'worse', 1).bannedUntil).to.equal(2000);
    expect(isBanned(long, 999)).to.equal(true);
    expect(isBanned(long, 1000)).to.equal(false);
    expect(isBanned(unbanPeer(long, 5), 5)).to.equal(false);
  });

  it('is offline when every address failed its last attempt, online again after a success', () => {
    let p = newPeer(randomSighting({ addresses: [{ address: '/ip4/1.1.1.1/tcp/1', source: 'config' }, { address: '/ip4/2.2.2.2/tcp/1', source: 'config' }] }), 0);
    expect(isOffline(p)).to.equal(false);
    p = recordDial(p, '/ip4/1.1.1.1/tcp/1', { kind: 'failure', reason: 'refused' }, 1);
    expect(isOffline(p)).to.equal(false);
    p = recordDial(p, '/ip4/2.2.2.2/tcp/1', { kind: 'failure', reason: 'timeout' }, 2);
    expect(isOffline(p)).to.equal(true);
    expect(p.addresses[1]!.lastFailureReason).to.equal('timeout');
    p = recordDial(p, '/ip4/2.2.2.2/tcp/1', { kind: 'success', dialMs: 10 }, 3);
    expect(isOffline(p)).to.equal(false);
    expect(isOffline(newPeer(randomSighting({ addresses: [] }), 0))).to.equal(false);
  });

  it('orders addresses by quality: recent fast successes, then untried, then failing', () => {
    const now = 10 * 3_600_000;
    let p = newPeer(
      randomSighting({
        addresses: ['/ip4/1.0.0.1/tcp/1', '/ip4/1.0.0.2/tcp/1', '/ip4/1.0.0.3/tcp/1', '/ip4/1.0.0.4/tcp/1', '/ip4/1.0.0.5/tcp/1'].map((address) => ({ address, source: 'config' as const })),
      }),
      0,
    );
    p = recordDial(p, '/ip4/1.0.0.1/tcp/1', { kind: 'failure', reason: 'x' }, now);
    p = recordDial(p, '/ip4/1.0.0.2/tcp/1', { kind: 'success', dialMs: 1500 }, now); // slow
    p = recordDial(p, '/ip4/1.0.0.3/tcp/1', { kind: 'success', dialMs: 20, latencyMs: 30 }, now); // fast
    p = recordDial(p, '/ip4/1.0.0.5/tcp/1', { kind: 'success', dialMs: 20 }, now - 8 * 3_600_000); // old
    const order = sortAddresses(p.addresses, now).map((a) => a.address.split('/')[2]);
    expect(order).to.deep.equal(['1.0.0.3', '1.0.0.5', '1.0.0.2', '1.0.0.4', '1.0.0.1']);
    const fail2 = recordDial(p, '/ip4/1.0.0.1/tcp/1', { kind: 'failure', reason: 'x' }, now);
    expect(addressQuality(fail2.addresses[0]!, now)).to.be.lessThan(addressQuality(p.addresses[0]!, now));
  });

  it('averages dial time and latency, and keeps at most the best addresses', () => {
    let p = newPeer(randomSighting(), 0);
    const a = p.addresses[0]!.address;
    p = recordDial(p, a, { kind: 'success', dialMs: 100, latencyMs: 10 }, 1);
    p = recordDial(p, a, { kind: 'success', dialMs: 200, latencyMs: 20 }, 2);
    expect(p.addresses[0]!.avgDialMs).to.be.closeTo(130, 1e-9);
    expect(p.addresses[0]!.avgLatencyMs).to.be.closeTo(13, 1e-9);
    const many = Array.from({ length: MAX_ADDRESSES_PER_PEER + 5 }, (_, i) => ({ address: `/ip4/9.9.9.${i}/tcp/1`, source: 'peer-sync' as const }));
    const capped = mergePeer(p, { publicKey: p.publicKey, nodeId: p.nodeId, addresses: many }, 3);
    expect(capped.addresses).to.have.length(MAX_ADDRESSES_PER_PEER);
    expect(capped.addresses.map((x) => x.address)).to.include(a); // the proven address survived
  });
});
