/**
 * The victim process of `bench:hostile`: a `CommsNode` with the default limits, listening on TCP
 * 127.0.0.1, its peers in LMDB (a temporary folder), messaging on; it answers every message with
 * the same body (the good peer's round trip). It prints `{ address, id }` as one JSON line, then
 * answers lines on stdin, each with one JSON line:
 * - `rss`: its RSS after the heap settled (GC, a pause, GC), with V8's figures, its budget's
 *   charge and its connections;
 * - `reset`: starts a new peak (the kernel's high-water mark of its RSS, and its own sampling);
 * - `peak`: the highest RSS since `reset` (bytes), the kernel's and the sampled one;
 * - `stats`: its state, connections, and the bytes its peers make it hold (its memory budget);
 * - `stop`: stops the node and exits.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { NodeIdentity } from '../../core/keys.js';
import { CommsBuilder } from '../../node/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tcomms-victim-'));
const node = new CommsBuilder()
  .withNodeIdentity(NodeIdentity.generate())
  .withUserAgent('victim')
  .withListenAddress('/ip4/127.0.0.1/tcp/0')
  .withPeerStore({ kind: 'lmdb', path: join(dir, 'peers') })
  .build();
node.on('error', (err) => process.stderr.write(`victim: actor error: ${String(err)}\n`));
node.on('message', (m) => {
  void node.send(m.from, m.body);
});
await node.start();

/** The kernel's high-water mark of this process's RSS (bytes), or undefined off Linux. */
function kernelPeak(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
function resetKernelPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

let sampled = 0;
const sampler = setInterval(() => (sampled = Math.max(sampled, process.memoryUsage.rss())), 20);
const gc = (globalThis as { gc?: () => void }).gc;
const reply = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
process.stdout.write(`${JSON.stringify({ address: String(node.listenAddresses[0]), id: Buffer.from(node.publicKey).toString('hex') })}\n`);

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'rss') {
    gc?.();
    setTimeout(() => {
      gc?.();
      const m = process.memoryUsage();
      reply({ rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, budgetUsed: node.root?.getSnapshot().context.resources?.memory.used ?? -1, connections: node.connections().length });
    }, 300);
  } else if (line === 'reset') {
    sampled = process.memoryUsage.rss();
    reply({ kernel: resetKernelPeak() });
  } else if (line === 'peak') {
    sampled = Math.max(sampled, process.memoryUsage.rss());
    reply({ sampled, kernel: kernelPeak() });
  } else if (line === 'stats') {
    const memory = node.root?.getSnapshot().context.resources?.memory;
    reply({ state: node.state, connections: node.connections().length, budgetUsed: memory?.used ?? -1 });
  } else if (line === 'stop') {
    clearInterval(sampler);
    void node.stop().finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  }
});
