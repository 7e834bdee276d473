/**
 * The memorynet's members: one seed, N communication nodes and W wallets, each a full tcomms node
 * (memory peer store, Noise XX, yamux, identity, messaging, the DHT) on one `MemoryNetwork`.
 * Keys and listen addresses come from the run's seed, so a member that goes offline comes back
 * with the same key at the same `/memory/<id>` (its claims held by others stay true). A member
 * is rebuilt on each start: a stopped node is not started again.
 */
import { createHash } from 'node:crypto';
import { NodeIdentity, type PublicKey } from '../../core/keys.js';
import { CommsBuilder, DEFAULT_COMMS_CONFIG, type CommsNode } from '../../node/index.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import type { MemorynetOptions } from './options.js';

/** What a member is. */
export type MemberRole = 'seed' | 'node' | 'wallet';

/** One member of the network and its current node (a new one after each restart). */
export interface Member {
  readonly role: MemberRole;
  /** Its index among the members of its role (0 for the seed). */
  readonly index: number;
  /** `seed`, `n17`, `w3`. */
  readonly label: string;
  readonly identity: NodeIdentity;
  readonly address: string;
  /** The running node, or undefined while offline. */
  node: CommsNode | undefined;
}

/** First `/memory/<id>` of each role: ids never collide for up to 99,998 nodes. */
const ADDRESS_BASE: Record<MemberRole, number> = { seed: 1, node: 2, wallet: 100_000 };

/** The identity of a member: derived from the run's seed, its role and index (never reused across roles). */
export function memberIdentity(seed: number, role: MemberRole, index: number): NodeIdentity {
  return NodeIdentity.fromSeed(createHash('sha256').update(`tcomms.memorynet:${seed}:${role}:${index}`).digest());
}

/** The memorynet's members and how each one's node is configured. */
export class Memorynet {
  readonly network = new MemoryNetwork();
  readonly seed: Member;
  readonly nodes: readonly Member[];
  readonly wallets: readonly Member[];
  readonly #byHex = new Map<string, Member>();
  readonly #byLabel = new Map<string, Member>();

  constructor(readonly options: MemorynetOptions) {
    const member = (role: MemberRole, index: number): Member => ({
      role,
      index,
      label: role === 'seed' ? 'seed' : `${role === 'node' ? 'n' : 'w'}${index}`,
      identity: memberIdentity(options.seed, role, index),
      address: `/memory/${ADDRESS_BASE[role] + index}`,
      node: undefined,
    });
    this.seed = member('seed', 0);
    this.nodes = Array.from({ length: options.nodes }, (_, i) => member('node', i));
    this.wallets = Array.from({ length: options.wallets }, (_, i) => member('wallet', i));
    for (const m of this.all) {
      this.#byHex.set(Buffer.from(m.identity.publicKey).toString('hex'), m);
      this.#byLabel.set(m.label, m);
    }
  }

  /** The seed and the communication nodes (the peers with feature bit 0). */
  get dhtNodes(): Member[] {
    return [this.seed, ...this.nodes];
  }

  /** Every member. */
  get all(): Member[] {
    return [this.seed, ...this.nodes, ...this.wallets];
  }

  /** The member labelled `label` (`seed`, `n17`, `w3`). */
  byLabel(label: string): Member | undefined {
    return this.#byLabel.get(label);
  }

  /** The member whose key is `publicKey`. */
  byKey(publicKey: PublicKey): Member | undefined {
    return this.#byHex.get(Buffer.from(publicKey).toString('hex'));
  }

  /** A new node for `m` (not started). */
  build(m: Member): CommsNode {
    const o = this.options;
    const wallet = m.role === 'wallet';
    const b = new CommsBuilder()
      .withNodeIdentity(m.identity)
      .withUserAgent(`memorynet/${m.label}`)
      .withTransport(new MemoryTransport({ network: this.network }))
      .withListenAddress(m.address)
      .withTimeouts({ keepaliveIntervalMs: o.keepaliveIntervalMs })
      // One round: a memory address either answers at once or is gone.
      .withDialPolicy({ rounds: 1 })
      // Everyone but the seed starts knowing only the seed; network discovery does the rest.
      .withDht({
        propagate: !wallet,
        seeds: m.role === 'seed' ? [] : [{ publicKey: this.seed.identity.publicKey, addresses: [this.seed.address] }],
        networkDiscovery: { failureWaitMs: o.discoveryFailureWaitMs },
        connectivity: { minimizeConnections: o.minimizeConnections, ...(o.neighbourSettleMs === undefined ? {} : { neighbourSettleMs: o.neighbourSettleMs }) },
      });
    // Communication nodes store and forward (feature bit 1, the store in memory); wallets only ask.
    b.withStoreAndForward({ store: !wallet });
    // A memory connection has no remote address: every inbound socket counts against one
    // address, whose bounds would then be the node's (4 upgrades, 64 sockets waiting, the rest
    // refused). Half the upgrade slots: the one address then waits for its own to end instead
    // of shedding upgrades in progress (all 32 taken); as many may wait as there are members.
    const everyone = o.nodes + o.wallets + 100;
    const waiting = Math.max(everyone, DEFAULT_COMMS_CONFIG.limits.maxWaitingSockets);
    b.withLimits({ maxUpgradesPerAddress: DEFAULT_COMMS_CONFIG.limits.maxConcurrentUpgrades / 2, maxWaitingSockets: waiting, maxWaitingSocketsPerAddress: waiting });
    // Everyone syncs from the seed first: it holds a connection to every member, and serves
    // each one's first sync (RPC sessions: everyone at once at most).
    if (m.role === 'seed') b.withLimits({ maxConnections: everyone }).withRpc({ maxSessions: everyone });
    return b.build();
  }

  /** Builds and starts `m`'s node; `prepare` sees the node before it starts (to subscribe to what it will receive). */
  async start(m: Member, prepare?: (node: CommsNode) => void): Promise<CommsNode> {
    if (m.node) throw new Error(`${m.label} is already online`);
    const node = this.build(m);
    m.node = node;
    prepare?.(node);
    await node.start();
    return node;
  }

  /** Stops `m`'s node (it goes offline). */
  async stop(m: Member): Promise<void> {
    const node = m.node;
    m.node = undefined;
    await node?.stop();
  }

  /** Stops every member still online. */
  async stopAll(): Promise<void> {
    await Promise.all(this.all.map((m) => this.stop(m).catch(() => undefined)));
  }
}
