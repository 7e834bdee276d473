/**
 * Peer sync, `/tari/dht/1` (PROTOCOL.md 9.8), between real nodes on the memory transport:
 * - the server streams stored claims: GetPeers n of them (0: all), GetCloserPeers the n nearest
 *   to closer_to in order; the client, banned peers, excluded keys and non-nodes (unless
 *   include_clients) are left out; every field out of range or of the wrong size is BadRequest;
 * - the client (network discovery) re-validates every claim: a server that streams an invalid
 *   claim, or more than it was asked for, is banned for 2 h (9.9); a valid claim of a peer the
 *   client banned is skipped;
 * - 30 nodes that each know only one seed fill their peer stores through network discovery.
 */
import { expect } from 'chai';
import { equals, toHex } from '../../core/bytes.js';
import { addressToBytes, parseAddress } from '../../core/address.js';
import { compareDistance, distance, NodeIdentity, type PublicKey } from '../../core/keys.js';
import { claimSighting } from '../../actors/discovery/index.js';
import { checkPeerClaim, createPeerClaim, type PeerClaim } from '../../protocols/dht/index.js';
import { RpcError, RpcStatus } from '../../protocols/rpc/index.js';
import { PeerSync } from '../../proto/gen/tcomms/dht/dht_pb.js';
import { CommsBuilder, type CommsNode, type DhtInit } from '../../node/index.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { GetCloserPeersRequestSchema } from '../../proto/gen/tcomms/dht/dht_pb.js';
import { seededIdentities } from '../support/dht-network.js';
import { until } from '../support/wait.js';

const nowSeconds = () => BigInt(Math.floor(Date.now() / 1000));
const hexes = (keys: Iterable<Uint8Array>) => [...keys].map(toHex).sort();

/** A signed claim of `id` (a node unless `features` says otherwise), reachable at a memory address. */
function claimOf(id: NodeIdentity, features = 1, port = 1): PeerClaim {
  return createPeerClaim(id, { addresses: [addressToBytes(parseAddress(`/memory/${port}`, { allowMemory: true }))], features, userAgent: 'stored', updatedAt: nowSeconds() });
}

function sightingOf(claim: PeerClaim) {
  const check = checkPeerClaim(claim, { nowSeconds: nowSeconds(), allowMemory: true });
  if (!check.ok) throw new Error(check.detail);
  return claimSighting(check.claim);
}

describe('peer sync (/tari/dht/1)', function () {
  this.timeout(120_000);
  const nodes: CommsNode[] = [];
  let network: MemoryNetwork;
  beforeEach(() => {
    network = new MemoryNetwork();
  });
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });

  /** A started node on the memory transport (DHT with `dht`, or none when `dht` is null). */
  async function node(identity: NodeIdentity, dht: DhtInit | null, configure: (b: CommsBuilder) => CommsBuilder = (b) => b): Promise<CommsNode> {
    const b = new CommsBuilder()
      .withNodeIdentity(identity)
      .withTransport(new MemoryTransport({ network }))
      .withListenAddress('/memory/0')
      .withTimeouts({ keepaliveIntervalMs: 0, closeGraceMs: 500 })
      .withDialPolicy({ rounds: 1 });
    // The DHT's pools would dial the claims the tests store (made-up addresses): none here.
    if (dht) b.withDht({ autoJoin: false, connectivity: { numNeighbours: 0, numRandom: 0 }, ...dht });
    const n = configure(b).build();
    nodes.push(n);
    await n.start();
    return n;
  }
  const seedOf = (n: CommsNode) => `${toHex(n.publicKey)}@${String(n.listenAddresses[0])}`;

  describe('the server', () => {
    const ids = seededIdentities('peer-sync-server', 40);
    const [serverId, clientId] = [ids[0]!, ids[1]!];
    const stored = ids.slice(2, 32); // 30 nodes with claims
    const clients = ids.slice(32, 36); // 4 clients with claims
    const banned = ids[36]!;
    const claimless = ids[37]!;
    let server: CommsNode;
    let client: CommsNode;

    beforeEach(async () => {
      server = await node(serverId, { networkDiscovery: { enabled: false } });
      client = await node(clientId, { networkDiscovery: { enabled: false } });
      for (const id of stored) await server.peers.add(sightingOf(claimOf(id)));
      for (const id of clients) await server.peers.add(sightingOf(claimOf(id, 0)));
      await server.peers.add(sightingOf(claimOf(banned)));
      await server.peers.ban(banned.publicKey, 3_600_000, 'test');
      await server.addPeer(claimless.publicKey, ['/memory/9']);
      await client.addPeer(server.publicKey, server.listenAddresses.map(String));
    });

    it('GetPeers: n claims at random, 0 for all; the client, banned peers, peers without a claim and (unless asked for) clients left out; each claim valid as stored', async () => {
      const sync = await client.rpc(server.publicKey, PeerSync);
      const all: PeerClaim[] = [];
      for await (const c of sync.getPeers({ n: 0 })) all.push(c);
      // The client connected: the server stored its claim too, and leaves it out.
      expect((await server.peers.find({ publicKey: client.publicKey }))?.claim).to.not.equal(undefined);
      expect(hexes(all.map((c) => c.publicKey))).to.deep.equal(hexes(stored.map((i) => i.publicKey)));
      for (const c of all) expect(checkPeerClaim(c, { nowSeconds: nowSeconds(), allowMemory: true }).ok).to.equal(true);

      const withClients: PeerClaim[] = [];
      for await (const c of sync.getPeers({ n: 0, includeClients: true })) withClients.push(c);
      expect(hexes(withClients.map((c) => c.publicKey))).to.deep.equal(hexes([...stored, ...clients].map((i) => i.publicKey)));

      const five: PeerClaim[] = [];
      for await (const c of sync.getPeers({ n: 5 })) five.push(c);
      expect(five).to.have.length(5);
      expect(new Set(five.map((c) => toHex(c.publicKey))).size).to.equal(5);
    });

    it('GetCloserPeers: the n nearest to closer_to, nearest first, excluded keys left out', async () => {
      const sync = await client.rpc(server.publicKey, PeerSync);
      const target = ids[39]!.nodeId;
      const byDistance = [...stored].sort((a, b) => compareDistance(distance(a.nodeId, target), distance(b.nodeId, target)));
      const got: PeerClaim[] = [];
      for await (const c of sync.getCloserPeers({ n: 7, closerTo: target })) got.push(c);
      expect(got.map((c) => toHex(c.publicKey))).to.deep.equal(byDistance.slice(0, 7).map((i) => toHex(i.publicKey)));

      const excluded = byDistance.slice(0, 3).map((i) => i.publicKey);
      const rest: PeerClaim[] = [];
      for await (const c of sync.getCloserPeers({ n: 4, closerTo: target, excluded, includeClients: true })) rest.push(c);
      const eligible = [...stored.slice(), ...clients].filter((i) => !excluded.some((k) => equals(k, i.publicKey)));
      eligible.sort((a, b) => compareDistance(distance(a.nodeId, target), distance(b.nodeId, target)));
      expect(rest.map((c) => toHex(c.publicKey))).to.deep.equal(eligible.slice(0, 4).map((i) => toHex(i.publicKey)));
    });

    it('BadRequest for every field out of range or of the wrong size', async () => {
      const sync = await client.rpc(server.publicKey, PeerSync);
      const status = async (items: AsyncIterable<unknown>): Promise<number | 'ok'> => {
        try {
          for await (const _ of items) void _;
          return 'ok';
        } catch (err) {
          if (err instanceof RpcError) return err.status;
          throw err;
        }
      };
      const good: MessageInitShape<typeof GetCloserPeersRequestSchema> = { n: 1, closerTo: ids[39]!.nodeId };
      const bad: Array<[string, Omit<MessageInitShape<typeof GetCloserPeersRequestSchema>, '$typeName'>]> = [
        ['n 0', { n: 0 }],
        ['n 101', { n: 101 }],
        ['closer_to empty', { closerTo: new Uint8Array(0) }],
        ['closer_to 12 bytes', { closerTo: new Uint8Array(12) }],
        ['closer_to 32 bytes (a key, not a NodeId)', { closerTo: ids[39]!.publicKey }],
        ['1,001 excluded keys', { excluded: Array.from({ length: 1_001 }, (_, i) => new Uint8Array(32).fill(i & 0xff)) }],
        ['an excluded key of 31 bytes', { excluded: [new Uint8Array(32), new Uint8Array(31)] }],
      ];
      for (const [what, change] of bad) expect(await status(sync.getCloserPeers({ ...good, ...change })), what).to.equal(RpcStatus.BadRequest);
      expect(await status(sync.getCloserPeers({ ...good, n: 100, excluded: Array.from({ length: 1_000 }, (_, i) => new Uint8Array(32).fill(i & 0xff)) })), 'the bounds themselves').to.equal('ok');
      expect(await status(sync.getPeers({ n: 1_001 })), 'GetPeers n 1,001').to.equal(RpcStatus.BadRequest);
      expect(await status(sync.getPeers({ n: 1_000 })), 'GetPeers n 1,000').to.equal('ok');
    });

    it('is served by DHT nodes only: a client of the DHT (no feature bit 0) and a node without the DHT do not serve it', async () => {
      const dhtClient = await node(ids[38]!, { propagate: false, networkDiscovery: { enabled: false } });
      const plain = await node(ids[39]!, null);
      expect(dhtClient.rpcServices.has('/tari/dht/1')).to.equal(false);
      expect(plain.rpcServices.has('/tari/dht/1')).to.equal(false);
      expect(server.rpcServices.has('/tari/dht/1')).to.equal(true);
      const c = await client.dial(server.publicKey);
      expect(c.supportedProtocols).to.include('/tari/dht/1');
    });
  });

  describe('the client (network discovery)', () => {
    const ids = seededIdentities('peer-sync-client', 12);

    /** A node (feature bit 0, no DHT) serving `handlers` as PeerSync, and a DHT node whose only seed it is. */
    async function pair(getPeers: (n: number) => AsyncIterable<PeerClaim>) {
      const bad = await node(ids[0]!, null, (b) =>
        b.withFeatures(1).withRpcService(PeerSync, {
          getPeers: (request) => getPeers(request.n),
          async *getCloserPeers() {},
        }),
      );
      const client = await node(ids[1]!, { seeds: [seedOf(bad)], networkDiscovery: { failureWaitMs: 50, idleWaitMs: 60_000, peersPerSync: 10 } }, (b) => b);
      return { bad, client };
    }

    const bannedBy = (n: CommsNode, key: PublicKey) =>
      new Promise<{ durationMs: number; reason: string }>((resolve) => n.on('peer.banned', (e) => equals(e.publicKey, key) && resolve({ durationMs: e.durationMs, reason: e.reason })));

    it('an invalid claim (a signature that does not verify) gets the server banned for 2 h', async () => {
      const good = claimOf(ids[2]!);
      const forged = claimOf(ids[3]!);
      forged.signature!.signature = Uint8Array.from(forged.signature!.signature, (b, i) => (i === 0 ? b ^ 1 : b));
      let banned!: Promise<{ durationMs: number; reason: string }>;
      const violations: string[] = [];
      const { bad, client } = await pair(async function* () {
        yield good;
        yield forged;
      });
      banned = bannedBy(client, bad.publicKey);
      client.actors.networkDiscovery!.on('network-discovery.violation', (e) => violations.push(e.reason));
      const ban = await Promise.race([banned, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no ban within 20 s')), 20_000))]);
      expect(ban.durationMs).to.equal(7_200_000);
      expect(violations[0]).to.match(/invalid claim: signature/);
      await until('the server disconnected', () => client.connection(bad.publicKey) === undefined, 10_000);
    });

    it('more claims than asked for gets the server banned; the claims before were valid and are kept', async () => {
      const extra = ids.slice(2, 13).map((id) => claimOf(id));
      const { bad, client } = await pair(async function* (n) {
        for (let i = 0; i <= n; i++) yield extra[i]!;
      });
      const violations: string[] = [];
      client.actors.networkDiscovery!.on('network-discovery.violation', (e) => violations.push(e.reason));
      const ban = await Promise.race([bannedBy(client, bad.publicKey), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no ban within 20 s')), 20_000))]);
      expect(ban.durationMs).to.equal(7_200_000);
      expect(violations[0]).to.equal('more than the 10 claims asked for');
      expect(await client.peers.find({ publicKey: ids[2]!.publicKey })).to.not.equal(undefined);
    });

    it('a valid claim of a peer the client banned is skipped (its addresses are not stored); the others are, as peer-sync addresses', async () => {
      const [friend, foe] = [ids[4]!, ids[5]!];
      const synced: number[] = [];
      let served = 0;
      const { client } = await pair(async function* () {
        served++;
        yield claimOf(foe, 1, 7);
        yield claimOf(friend, 1, 8);
      });
      // The ban may come after the first sync: only syncs that start after it count.
      await client.peers.ban(foe.publicKey, 3_600_000, 'test');
      await client.peers.delete(friend.publicKey).catch(() => undefined);
      const servedAtBan = served;
      client.actors.networkDiscovery!.on('network-discovery.synced', (e) => e.report.ok && synced.push(served));
      await until('a sync after the ban', () => synced.some((s) => s > servedAtBan), 20_000);
      const foePeer = await client.peers.find({ publicKey: foe.publicKey });
      expect(foePeer?.addresses.map((a) => a.address) ?? []).to.not.include('/memory/7');
      const friendPeer = await client.peers.find({ publicKey: friend.publicKey });
      expect(friendPeer?.addresses.map((a) => [a.address, a.source])).to.deep.include(['/memory/8', 'peer-sync']);
    });
    it('withMaxUnverifiedPeers reaches the store: of 8 claims synced, 3 records are kept', async () => {
      const claimed = ids.slice(2, 10);
      const bad = await node(ids[0]!, null, (b) =>
        b.withFeatures(1).withRpcService(PeerSync, {
          async *getPeers() {
            for (const id of claimed) yield claimOf(id);
          },
          async *getCloserPeers() {},
        }),
      );
      const client = await node(ids[1]!, { seeds: [seedOf(bad)], networkDiscovery: { failureWaitMs: 50, idleWaitMs: 60_000, peersPerSync: 10 } }, (b) => b.withMaxUnverifiedPeers(3));
      const synced = new Promise<void>((resolve) => client.actors.networkDiscovery!.on('network-discovery.synced', (e) => e.report.ok && resolve()));
      await Promise.race([synced, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no sync within 20 s')), 20_000))]);
      const kept = await Promise.all(claimed.map(async (id) => (await client.peers.find({ publicKey: id.publicKey })) !== undefined));
      expect(kept.filter(Boolean)).to.have.length(3);
    });
  });

  describe('a connection made for a sync', () => {
    /**
     * A seed that knows one other node; a node that knows only the seed, whose first discovery
     * round (the sync with the seed) is seen through inspection; `pools` says whether its DHT
     * pools may keep the seed.
     */
    async function firstRound(pools: boolean) {
      const ids = seededIdentities(`sync-connection-${pools}`, 3);
      const seed = await node(ids[0]!, { networkDiscovery: { enabled: false } });
      const other = await node(ids[1]!, { networkDiscovery: { enabled: false } });
      await seed.peers.add(sightingOf(claimOf(ids[1]!, 1, 7)));
      let rounds = 0;
      const disconnects: string[] = [];
      const member = await node(
        ids[2]!,
        { seeds: [seedOf(seed)], networkDiscovery: { idleWaitMs: 60_000, failureWaitMs: 60_000 }, ...(pools ? { connectivity: { numNeighbours: 1, numRandom: 0 } } : {}) },
        (b) =>
          b.withInspect((e) => {
            if (e.type !== '@xstate.event') return;
            if (e.event.type === 'xstate.done.actor.syncRound') rounds++;
            const event: { type: string; publicKey?: unknown } = e.event;
            if (event.type === 'connection-manager.disconnect' && event.publicKey instanceof Uint8Array) disconnects.push(toHex(event.publicKey));
          }),
      );
      await until('the first sync round ended', () => rounds >= 1, 20_000);
      expect((await member.peers.find({ publicKey: other.publicKey }))?.publicKey, 'the synced claim is stored').to.not.equal(undefined);
      return { seed, member, disconnects };
    }

    it('is closed after it when nothing else keeps the peer', async () => {
      const { seed, member, disconnects } = await firstRound(false);
      expect(disconnects).to.deep.equal([toHex(seed.publicKey)]);
      await until('the connection to the seed closed', () => member.connection(seed.publicKey) === undefined, 10_000);
    });

    it('stays open when the DHT pools took the peer up meanwhile (closing it dropped pool members node-wide)', async () => {
      const { seed, member, disconnects } = await firstRound(true);
      // The round decided before it ended: no disconnect was asked, and the connection is open.
      expect(disconnects).to.deep.equal([]);
      expect(member.connection(seed.publicKey), 'still connected to the seed').to.not.equal(undefined);
    });
  });

  it('on connect (enough peers known): a node this node dialled is synced, one that dialled it is not (a fresh key per connection would get a sync each)', async () => {
    const [aId, seedId, inId, outId] = seededIdentities('peer-sync-on-connect', 4) as [NodeIdentity, NodeIdentity, NodeIdentity, NodeIdentity];
    const seed = await node(seedId, { networkDiscovery: { enabled: false } });
    // One known peer (the seed) is enough: A goes straight to on-connect.
    const a = await node(aId, { seeds: [seedOf(seed)], networkDiscovery: { minKnownPeers: 1 } });
    const nd = a.actors.networkDiscovery!;
    await until('A syncs on connect', () => nd.getSnapshot().matches('onConnect'), 10_000);
    const synced: string[] = [];
    nd.on('network-discovery.synced', (e) => synced.push(toHex(e.report.publicKey)));
    const inbound = await node(inId, { networkDiscovery: { enabled: false } });
    const outbound = await node(outId, { networkDiscovery: { enabled: false } });
    await inbound.dial(a.publicKey, { addresses: a.listenAddresses.map(String), timeoutMs: 10_000 });
    await until('A holds the inbound connection', () => a.connections().some((c) => equals(c.publicKey, inbound.publicKey)), 10_000);
    await a.dial(outbound.publicKey, { addresses: outbound.listenAddresses.map(String), timeoutMs: 10_000 });
    // On-connect syncs run in the order the connections came: had the inbound node been queued, it would be synced first.
    await until('A synced the node it dialled', () => synced.includes(toHex(outbound.publicKey)), 20_000);
    expect(synced).to.not.include(toHex(inbound.publicKey));
  });

  it('30 nodes that each know only one seed fill their peer stores through network discovery', async () => {
    const ids = seededIdentities('peer-sync-net', 31);
    const seed = await node(ids[0]!, { networkDiscovery: { enabled: false } });
    const dht: DhtInit = { seeds: [seedOf(seed)], networkDiscovery: { failureWaitMs: 100, idleWaitMs: 500 } };
    const members = await Promise.all(ids.slice(1).map((id) => node(id, dht)));
    const everyone = [seed, ...members];
    const knownBy = async (n: CommsNode) => new Set((await n.peers.random(1_000)).map((p) => toHex(p.publicKey)));
    const complete = async () => {
      const counts = await Promise.all(members.map(async (n) => (await knownBy(n)).size));
      return counts;
    };
    const deadline = Date.now() + 90_000;
    let counts = await complete();
    while (counts.some((c) => c < 30) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      counts = await complete();
    }
    expect(counts, 'peers known by each node').to.deep.equal(members.map(() => 30));
    for (const [i, n] of members.entries()) {
      const known = await knownBy(n);
      for (const other of everyone) if (other !== n) expect(known.has(toHex(other.publicKey)), `node ${i + 1} knows ${toHex(other.publicKey).slice(0, 8)}`).to.equal(true);
    }
    // Most were learned by peer sync, not by connecting: far fewer connections than peers known.
    const connections = members.map((n) => n.connections().length);
    expect(Math.min(...connections), 'connections per node').to.be.lessThan(30);
  });
});
