/**
 * `npm start`: the main job on embedded defaults. Five nodes with LMDB peer stores in a
 * temporary directory start on loopback TCP, connect in a mesh (each dials the others it knows),
 * exchange messages (small ones between every pair, and a large one around the ring) with
 * checksums; then the DHT (`demo-dht.ts`): nodes that know only a seed fill their peer stores,
 * a wallet discovers another and sends it a sealed message, and a message sent while a wallet
 * was offline reaches it through store-and-forward. The command prints a progress bar and a
 * summary, then exits 0 (1 on any loss).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../core/bytes.js';
import { NodeIdentity } from '../core/keys.js';
import { CommsBuilder, type CommsNode } from '../node/index.js';
import { dhtDemo } from './demo-dht.js';

const NODES = 5;
const SMALL_PER_PAIR = 400; // 1 KiB messages from every node to every other
const LARGE = 4 * 1024 * 1024; // one per node, to the next around the ring

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const short = (key: Uint8Array) => toHex(key).slice(0, 8);
const tty = process.stdout.isTTY === true;

function bar(done: number, total: number): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const line = `  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} messages`;
  if (tty) process.stdout.write(`\r${line}`);
  else if (done === total || done % Math.ceil(total / 5) === 0) process.stdout.write(`${line}\n`);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'tcomms-demo-'));
  const nodes: CommsNode[] = [];
  try {
    process.stdout.write(`tcomms demo: ${NODES} nodes on 127.0.0.1, LMDB peer stores in ${dir}\n`);
    for (let i = 0; i < NODES; i++) {
      const node = new CommsBuilder()
        .withNodeIdentity(NodeIdentity.generate())
        .withUserAgent(`demo-${i}`)
        .withListenAddress('/ip4/127.0.0.1/tcp/0')
        .withPeerStore({ kind: 'lmdb', path: join(dir, `node-${i}`) })
        .build();
      await node.start();
      nodes.push(node);
      process.stdout.write(`  node ${i}: ${short(node.publicKey)}... listening on ${node.listenAddresses.join(' ')}\n`);
    }
    // Every node learns every other's address; then each dials the ones after it (a full mesh).
    for (const a of nodes) for (const b of nodes) if (a !== b) await a.addPeer(b.publicKey, b.listenAddresses.map(String));
    const dialMs: number[] = [];
    await Promise.all(
      nodes.flatMap((a, i) =>
        nodes.slice(i + 1).map(async (b) => {
          const t = performance.now();
          await a.dial(b.publicKey);
          dialMs.push(performance.now() - t);
        }),
      ),
    );
    const connections = nodes.reduce((n, node) => n + node.connections().filter((c) => c.direction === "outbound").length, 0);
    process.stdout.write(`  ${connections} connections (Noise XX, yamux, identities exchanged); dial + handshake p50 ${percentile(dialMs, 50).toFixed(2)} ms, p95 ${percentile(dialMs, 95).toFixed(2)} ms\n`);

    // Messages: what each node expects to receive, by checksum.
    const expected = new Map<CommsNode, Map<string, number>>(nodes.map((n) => [n, new Map()]));
    const plan: Array<{ from: CommsNode; to: CommsNode; body: Uint8Array }> = [];
    for (const from of nodes) for (const to of nodes) if (from !== to) for (let k = 0; k < SMALL_PER_PAIR; k++) plan.push({ from, to, body: randomBytes(1024) });
    nodes.forEach((from, i) => plan.push({ from, to: nodes[(i + 1) % NODES]!, body: randomBytes(LARGE) }));
    for (const { to, body } of plan) {
      const m = expected.get(to)!;
      const h = sha(body);
      m.set(h, (m.get(h) ?? 0) + 1);
    }
    let received = 0;
    let corrupt = 0;
    const total = plan.length;
    const allIn = new Promise<void>((resolve) => {
      for (const node of nodes) {
        node.on('message', (msg) => {
          const m = expected.get(node)!;
          const h = sha(msg.body);
          const left = m.get(h) ?? 0;
          if (left === 0) corrupt++;
          else m.set(h, left - 1);
          received++;
          bar(received, total);
          if (received === total) resolve();
        });
      }
    });
    const started = performance.now();
    // Per sender, at most 256 messages outstanding (within the per-peer queue bound).
    const outcomes = await Promise.all(
      nodes.map(async (from) => {
        const mine = plan.filter((p) => p.from === from);
        const pending: Array<Promise<{ ok: boolean }>> = [];
        for (let i = 0; i < mine.length; i++) {
          if (i >= 256) await pending[i - 256];
          pending.push(from.send(mine[i]!.to.publicKey, mine[i]!.body));
        }
        return Promise.all(pending);
      }),
    );
    const failed = outcomes.flat().filter((o) => !o.ok).length;
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 60_000).unref());
    const finished = await Promise.race([allIn.then(() => 'ok' as const), timeout]);
    const seconds = (performance.now() - started) / 1000;
    if (tty) process.stdout.write('\n');
    const bytes = plan.reduce((n, p) => n + p.body.length, 0);
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
    process.stdout.write('tcomms demo, the DHT: a seed, 3 nodes and 2 wallets on 127.0.0.1\n');
    const dht = await dhtDemo(join(dir, 'dht'), (line) => process.stdout.write(`${line}\n`));
    process.stdout.write(
      [
        'summary',
        `  nodes:               ${NODES}`,
        `  connections:         ${connections}`,
        `  handshake latency:   p50 ${percentile(dialMs, 50).toFixed(2)} ms (dial, Noise XX, yamux, identity exchange)`,
        `  messages delivered:  ${received}/${total}, checksums ${corrupt === 0 ? 'all match' : `${corrupt} MISMATCHED`}, ${failed} failed to send`,
        `  throughput:          ${(bytes / 1024 / 1024 / seconds).toFixed(1)} MiB/s, ${(total / seconds).toFixed(0)} messages/s over ${seconds.toFixed(2)} s`,
        ...dht.lines,
        '',
      ].join('\n'),
    );
    return finished === 'ok' && corrupt === 0 && failed === 0 && dht.ok ? 0 : 1;
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
