/**
 * `npm run bench:dht` (from `dist/`, never in `npm test`): the DHT of PROTOCOL.md section 9.
 *
 * 1. Envelopes sealed and opened per second (100 B and 4 KiB payloads, both crypto providers):
 *    `sealEnvelope` with a named origin, and `judgeEnvelope` opening it for its recipient (decode,
 *    hashes, X25519, ChaCha20-Poly1305, the origin's Ed25519 signature); cleartext signed and
 *    unsigned judgements beside them.
 * 2. The inbound pipeline on one node: pre-built envelopes sent with plain messaging to a DHT node,
 *    delivered to its application, against the raw messaging rate of the same run (the same bodies
 *    to a node without the DHT). Memory transport, one process.
 * 3. Messages per second propagated through a 100-node memory network (degree at most 4, so every
 *    message reaches every node), one origin, every node's application counted.
 */
import { nativeProvider, stablelibProvider, type CryptoProvider } from '../core/crypto/index.js';
import { NodeIdentity } from '../core/keys.js';
import {
  createCleartextEnvelope,
  defaultExpiry,
  dhtReceiver,
  DhtMessageType,
  encodeDomainMessage,
  judgeEnvelope,
  sealEnvelope,
} from '../protocols/dht/index.js';
import { CommsBuilder, type CommsNode } from '../node/index.js';
import { MemoryNetwork, MemoryTransport } from '../transports/memory/memory.js';
import { medianOf, table, type Row } from './harness.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const now = () => BigInt(Math.floor(Date.now() / 1000));

/** Operations per second of `op` over about `ms` of work. */
function opsPerSecond(op: () => void, ms = 500): number {
  for (let i = 0; i < 20; i++) op(); // warm
  let n = 0;
  const t = performance.now();
  while (performance.now() - t < ms) {
    for (let i = 0; i < 20; i++) op();
    n += 20;
  }
  return (n / (performance.now() - t)) * 1000;
}

async function crypto(): Promise<void> {
  const origin = NodeIdentity.generate();
  const recipient = NodeIdentity.generate();
  const other = NodeIdentity.generate();
  const rows: Row[] = [];
  for (const provider of [nativeProvider, stablelibProvider] as CryptoProvider[]) {
    const receiver = dhtReceiver(recipient, provider);
    for (const size of [100, 4096]) {
      const body = encodeDomainMessage({ messageType: 1, nonce: 1n, payload: new Uint8Array(size) });
      const seal = () => sealEnvelope(provider, { recipient: recipient.publicKey, messageType: DhtMessageType.DOMAIN, expires: defaultExpiry(now(), true), innerBody: body, origin });
      const sealed = seal().envelope;
      const signed = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, expires: defaultExpiry(now(), false), body, signer: origin }).envelope;
      const plain = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, expires: defaultExpiry(now(), false), body }).envelope;
      const judge = (envelope: Uint8Array) => () => {
        const j = judgeEnvelope(provider, { envelope, receiver, sendingPeer: other.publicKey, nowSeconds: now(), seen: () => false });
        if (j.reason !== undefined) throw new Error(`bench envelope rejected: ${j.reason}`);
      };
      const label = `${provider.name}, ${size === 100 ? '100 B' : '4 KiB'}`;
      rows.push({ name: `${label}: seal (origin signed inside)`, value: await medianOf(RUNS, async () => opsPerSecond(() => void seal())) });
      rows.push({ name: `${label}: open for self (judge)`, value: await medianOf(RUNS, async () => opsPerSecond(judge(sealed))) });
      rows.push({ name: `${label}: cleartext signed (judge)`, value: await medianOf(RUNS, async () => opsPerSecond(judge(signed))) });
      rows.push({ name: `${label}: cleartext unsigned (judge)`, value: await medianOf(RUNS, async () => opsPerSecond(judge(plain))) });
    }
  }
  table('DHT envelopes per second (one core)', 'ops/s', rows, 'native, 100 B: seal (origin signed inside)');
}

function node(network: MemoryNetwork, dht: boolean, extra: (b: CommsBuilder) => CommsBuilder = (b) => b): CommsNode {
  const b = new CommsBuilder()
    .withNodeIdentity(NodeIdentity.generate())
    .withTransport(new MemoryTransport({ network }))
    .withListenAddress('/memory/0')
    .withTimeouts({ keepaliveIntervalMs: 0, closeGraceMs: 500 })
    .withMessaging({ maxQueuedPerPeer: 16_384, maxQueued: 65_536 });
  return extra(dht ? b.withDht({ floodMaxMessages: 100_000_000, networkDiscovery: { enabled: false } }) : b).build();
}

/** Messages per second from `sender` to `receiver`, each body sent with plain messaging, until `count` were received. */
async function stream(sender: CommsNode, receiver: CommsNode, bodies: Uint8Array[], received: () => number): Promise<number> {
  const target = received() + bodies.length;
  const t = performance.now();
  const window: Array<Promise<unknown>> = [];
  for (const [i, body] of bodies.entries()) {
    window.push(sender.send(receiver.publicKey, body));
    if (window.length >= 4_096) await window.splice(0, 2_048)[2_047];
    if (i % 4_096 === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(window);
  while (received() < target) await new Promise((r) => setTimeout(r, 1));
  return (bodies.length / (performance.now() - t)) * 1000;
}

async function pipeline(): Promise<void> {
  const N = Number(process.env.DHT_MESSAGES ?? 20_000);
  const network = new MemoryNetwork();
  const sender = node(network, false);
  const raw = node(network, false);
  const dht = node(network, true, (b) => b.withDht({ floodMaxMessages: 100_000_000, dedupMaxKeys: 1_000_000, maxDeliveredKeys: 1_000_000, maxDeliveredKeysPerPeer: 1_000_000, networkDiscovery: { enabled: false } }));
  await Promise.all([sender.start(), raw.start(), dht.start()]);
  try {
    for (const to of [raw, dht]) {
      await sender.addPeer(to.publicKey, to.listenAddresses.map(String));
      await sender.dial(to.publicKey);
    }
    let rawCount = 0;
    raw.on('message', () => rawCount++);
    let delivered = 0;
    dht.dht.on('any', () => delivered++);
    const origin = NodeIdentity.generate();
    const expires = defaultExpiry(now(), false);
    const make = (kind: 'unsigned' | 'signed' | 'sealed', i: number) => {
      const body = encodeDomainMessage({ messageType: 1, nonce: BigInt(i), payload: new Uint8Array(100) });
      if (kind === 'sealed') return sealEnvelope(nativeProvider, { recipient: dht.publicKey, messageType: DhtMessageType.DOMAIN, expires: defaultExpiry(now(), true), innerBody: body, origin }).envelope;
      return createCleartextEnvelope(nativeProvider, { messageType: DhtMessageType.DOMAIN, destination: dht.publicKey, expires, body, ...(kind === 'signed' ? { signer: origin } : {}) }).envelope;
    };
    const rows: Row[] = [];
    let nonce = 0;
    for (const kind of ['unsigned', 'signed', 'sealed'] as const) {
      const sets = Array.from({ length: RUNS }, () => Array.from({ length: N }, () => make(kind, nonce++)));
      let run = 0;
      const rawRate = await medianOf(RUNS, () => stream(sender, raw, sets[run++]!, () => rawCount));
      run = 0;
      const dhtRate = await medianOf(RUNS, () => stream(sender, dht, sets[run++]!, () => delivered));
      const bytes = sets[0]![0]!.length;
      rows.push({ name: `raw messaging, the ${kind} bodies (${bytes} B)`, value: rawRate });
      rows.push({ name: `DHT pipeline, ${kind}, 100 B payload`, value: dhtRate });
    }
    table(`Inbound DHT pipeline on one node (${N} messages per run, memory transport, one process)`, 'messages/s', rows, rows[0]!.name);
  } finally {
    await Promise.all([sender.stop(), raw.stop(), dht.stop()]);
  }
}

/** A connected random graph with degrees at most `max` (a random spanning tree and extra edges). */
function graph(n: number, max: number, extra: number): Array<Set<number>> {
  const adj = Array.from({ length: n }, () => new Set<number>());
  for (let k = 1; k < n; k++) {
    const open = [...Array(k).keys()].filter((x) => adj[x]!.size < max);
    const p = open[Math.floor(Math.random() * open.length)]!;
    adj[p]!.add(k);
    adj[k]!.add(p);
  }
  for (let added = 0, tries = 0; added < extra && tries < extra * 50; tries++) {
    const [i, j] = [Math.floor(Math.random() * n), Math.floor(Math.random() * n)];
    if (i === j || adj[i]!.has(j) || adj[i]!.size >= max || adj[j]!.size >= max) continue;
    adj[i]!.add(j);
    adj[j]!.add(i);
    added++;
  }
  return adj;
}

async function propagation(): Promise<void> {
  const M = Number(process.env.DHT_PROPAGATED ?? 500);
  const network = new MemoryNetwork();
  const nodes = Array.from({ length: 100 }, () => node(network, true, (b) => b.withDht({ floodMaxMessages: 100_000_000, autoJoin: false, networkDiscovery: { enabled: false } })));
  await Promise.all(nodes.map((n) => n.start()));
  try {
    const adj = graph(100, 4, 80);
    const edges: Array<[number, number]> = [];
    adj.forEach((s, i) => s.forEach((j) => i < j && edges.push([i, j])));
    for (let k = 0; k < edges.length; k += 16) {
      await Promise.all(
        edges.slice(k, k + 16).map(async ([i, j]) => {
          await nodes[i]!.addPeer(nodes[j]!.publicKey, nodes[j]!.listenAddresses.map(String));
          await nodes[i]!.dial(nodes[j]!.publicKey);
        }),
      );
    }
    let deliveries = 0;
    for (const n of nodes) n.dht.on('any', () => deliveries++);
    const rows: Row[] = [];
    for (const sign of [false, true]) {
      const rate = await medianOf(RUNS, async () => {
        const target = deliveries + M * 99;
        const t = performance.now();
        for (let i = 0; i < M; i++) {
          const o = await nodes[0]!.dht.send({ type: 1, payload: new Uint8Array(100), sign });
          if (o.status !== 'queued') throw new Error(`not sent: ${JSON.stringify(o)}`);
          if (i % 64 === 63) await new Promise((r) => setImmediate(r));
        }
        while (deliveries < target) await new Promise((r) => setTimeout(r, 1));
        return (M / (performance.now() - t)) * 1000;
      });
      rows.push({ name: `${sign ? 'signed' : 'unsigned'}, 100 B: messages/s (x99 deliveries)`, value: rate });
    }
    const copies = nodes.reduce((n, x) => n + x.dht.stats.received, 0);
    const dups = nodes.reduce((n, x) => n + x.dht.stats.duplicates, 0);
    table(`Propagation through 100 memory nodes (degree <= 4, ${edges.length} connections; ${M} messages per run from one origin)`, 'messages/s', rows, 'unsigned, 100 B: messages/s (x99 deliveries)');
    console.log(`(copies received in all runs: ${copies}, of which duplicates dropped by dedup: ${dups})`);
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
}

const only = process.env.DHT_BENCH;
if (!only || only === 'crypto') await crypto();
if (!only || only === 'pipeline') await pipeline();
if (!only || only === 'propagation') await propagation();
process.exit(0);
