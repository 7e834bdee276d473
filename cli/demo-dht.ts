/**
 * The DHT part of `npm start` (PROTOCOL.md section 9): a seed and three communication nodes
 * (propagation and store-and-forward) and two wallets (clients) on loopback TCP with LMDB stores,
 * each knowing only the seed. Network discovery fills their peer stores; wallet A discovers
 * wallet B (whose address it never had) and sends it a sealed message; then B goes offline, A
 * sends it another, the communication nodes keep it, and B, started again from its data
 * directory, receives it through store-and-forward, marked late. Every wait is bounded.
 */
import { join } from 'node:path';
import { toHex } from '../core/bytes.js';
import { NodeIdentity, type PublicKey } from '../core/keys.js';
import { CommsBuilder, type CommsNode, type DhtMessage } from '../node/index.js';

const COMM_NODES = 3;
const MESSAGE_TYPE = 1;

/** What the DHT demo found, for the summary. */
export interface DhtDemoResult {
  ok: boolean;
  lines: string[];
}

/** Resolves when `check` holds, or false after `ms`. */
async function within(ms: number, check: () => boolean | Promise<boolean>): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

const text = (m: DhtMessage) => Buffer.from(m.payload).toString();
const same = (a: PublicKey, b: PublicKey) => toHex(a) === toHex(b);

/** Runs the DHT demo in `dir` (a fresh directory), printing progress to `out`. */
export async function dhtDemo(dir: string, out: (line: string) => void): Promise<DhtDemoResult> {
  const running: CommsNode[] = [];
  const build = (name: string, identity: NodeIdentity, role: 'node' | 'wallet', seed?: CommsNode): CommsNode => {
    let b = new CommsBuilder()
      .withNodeIdentity(identity)
      .withUserAgent(`demo-${name}`)
      .withListenAddress('/ip4/127.0.0.1/tcp/0')
      .withPeerStore({ kind: 'lmdb', path: join(dir, name, 'peers') }) // store-and-forward keeps its store beside it, in saf/
      .withDht({ propagate: role === 'node' })
      .withStoreAndForward({ store: role === 'node' });
    if (seed) b = b.withSeeds(`${toHex(seed.publicKey)}@${String(seed.listenAddresses[0])}`);
    return b.build();
  };
  const start = async (node: CommsNode) => {
    await node.start();
    running.push(node);
    return node;
  };
  const stop = async (node: CommsNode) => {
    running.splice(running.indexOf(node), 1);
    await node.stop();
  };
  try {
    const seed = await start(build('seed', NodeIdentity.generate(), 'node'));
    out(`  seed ${toHex(seed.publicKey).slice(0, 8)}... on ${String(seed.listenAddresses[0])}; every other node knows only the seed`);
    const comms: CommsNode[] = [];
    for (let i = 0; i < COMM_NODES; i++) comms.push(await start(build(`node-${i}`, NodeIdentity.generate(), 'node', seed)));
    const walletA = await start(build('wallet-a', NodeIdentity.generate(), 'wallet', seed));
    const bIdentity = NodeIdentity.generate();
    let walletB = await start(build('wallet-b', bIdentity, 'wallet', seed));

    // Network discovery (GetPeers from the seed, then from the peers learned) fills the stores.
    const known = async (n: CommsNode) => (await n.peers.random(1_000)).length;
    const everyone = [seed, ...comms, walletA, walletB];
    const filled = await within(20_000, async () => (await Promise.all(everyone.map(known))).every((k) => k >= COMM_NODES));
    const counts = await Promise.all(everyone.map(known));
    out(`  network discovery: peers known per node ${Math.min(...counts)} to ${Math.max(...counts)}${filled ? '' : ' (not everyone within 20 s)'}`);

    // Wallet A discovers wallet B (sealed DISCOVERY, answered by B) and sends it a sealed message.
    const gotB: DhtMessage[] = [];
    const listenB = (w: CommsNode) => w.dht.on(MESSAGE_TYPE, (m) => void gotB.push(m));
    listenB(walletB);
    const t = performance.now();
    const discovered = await walletA.dht.discover(walletB.publicKey);
    const discoveryMs = performance.now() - t;
    const sent = discovered.ok ? await walletA.dht.send({ to: walletB.publicKey, type: MESSAGE_TYPE, payload: Buffer.from('hello B, only you can read this'), encrypt: true, sign: true }) : undefined;
    const direct = sent?.status === 'queued' && (await within(10_000, () => gotB.some((m) => text(m).startsWith('hello B'))));
    const first = gotB.find((m) => text(m).startsWith('hello B'));
    const directOk = direct && first !== undefined && first.encrypted && !first.late && first.origin !== undefined && same(first.origin, walletA.publicKey);
    out(`  discovery: wallet A found wallet B in ${discoveryMs.toFixed(0)} ms (${discovered.ok ? 'ok' : `failed: ${discovered.error.name}`}); sealed message ${directOk ? 'delivered, origin A' : 'NOT delivered'}`);

    // Wallet B goes offline; A sends it another sealed message, which the nodes keep for it.
    await stop(walletB);
    const storedBefore = comms.reduce((n, c) => n + (c.dht.saf?.stats.stored ?? 0), seed.dht.saf?.stats.stored ?? 0);
    const later = await walletA.dht.send({ to: bIdentity.publicKey, type: MESSAGE_TYPE, payload: Buffer.from('sent while you were away'), encrypt: true, sign: true });
    const kept = await within(10_000, () => comms.reduce((n, c) => n + (c.dht.saf?.stats.stored ?? 0), seed.dht.saf?.stats.stored ?? 0) > storedBefore);
    const keepers = [seed, ...comms].filter((c) => (c.dht.saf?.stats.stored ?? 0) > 0).length;
    out(`  store-and-forward: wallet B offline; A's message ${later.status === 'queued' ? 'sent' : `not sent (${later.status})`}, kept by ${keepers} node${keepers === 1 ? '' : 's'}${kept ? '' : ' (NOT kept)'}`);

    // B comes back from its data directory, connects, asks the store-and-forward nodes.
    gotB.length = 0;
    walletB = await start(build('wallet-b', bIdentity, 'wallet', seed));
    listenB(walletB);
    const arrived = await within(30_000, () => gotB.some((m) => text(m) === 'sent while you were away'));
    const lateOnes = gotB.filter((m) => text(m) === 'sent while you were away');
    const safOk = arrived && lateOnes.length === 1 && lateOnes[0]!.late && lateOnes[0]!.encrypted;
    out(`  store-and-forward: wallet B back; ${safOk ? 'received it once, marked late' : arrived ? `received it ${lateOnes.length} times` : 'did NOT receive it within 30 s'}`);

    const ok = filled && discovered.ok && directOk && kept && safOk;
    return {
      ok,
      lines: [
        `  DHT nodes:           ${everyone.length} (1 seed, ${COMM_NODES} nodes with propagation and store-and-forward, 2 wallets), each started knowing only the seed`,
        `  DHT discovery:       ${directOk ? `wallet A found wallet B in ${discoveryMs.toFixed(0)} ms and its sealed message arrived` : 'FAILED'}`,
        `  store-and-forward:   ${safOk ? 'a message sent while wallet B was offline reached it once it came back (late)' : 'FAILED'}`,
      ],
    };
  } finally {
    await Promise.all(running.map((n) => n.stop()));
  }
}
