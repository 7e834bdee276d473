/**
 * `npm run bench:scale`: how the cost of a new connection grows with the connections a node
 * already holds. A server in a second process keeps n idle connections (from n client nodes);
 * another client then connects and hangs up 500 times. tcomms against js-libp2p, same loopback
 * workload as `bench:e2e`'s sequential connects, for n in `SCALE_STEPS` (default 0,1000,2000).
 * Printed: connects/s, p50 latency and the server's CPU time per connect, per n and stack.
 */
import { cpus } from 'node:os';
import { remoteServer } from './e2e/remote.js';
import { startClient, stacksToRun, type BenchClient, type StackName } from './e2e/stacks.js';
import { sequentialConnects } from './e2e/workloads.js';

const STEPS = (process.env.SCALE_STEPS ?? '0,1000,2000').split(',').map(Number);
const STACKS = stacksToRun();
const MEASURED = 500;

interface Row {
  perSecond: number;
  p50Ms: number;
  serverCpuMs: number;
}

async function measure(stack: StackName): Promise<Map<number, Row>> {
  const server = await remoteServer(stack);
  const client = await startClient(stack);
  const idle: BenchClient[] = [];
  const rows = new Map<number, Row>();
  try {
    for (const n of STEPS) {
      while (idle.length < n) {
        const batch = await Promise.all(Array.from({ length: Math.min(50, n - idle.length) }, () => startClient(stack)));
        await Promise.all(batch.map((c) => c.connect(server.info)));
        idle.push(...batch);
      }
      // Warm both processes (uncounted): 1,600 connects before the first row, as bench:e2e does
      // before its connect rows, then 300 at each size.
      await sequentialConnects(client, server.info, n === STEPS[0] ? 1_600 : 300);
      const cpu0 = await server.cpu();
      const r = await sequentialConnects(client, server.info, MEASURED);
      const serverCpuMs = (await server.cpu()) - cpu0;
      rows.set(n, { perSecond: r.perSecond, p50Ms: r.p50Ms, serverCpuMs: serverCpuMs / MEASURED / 1000 });
      process.stderr.write(`${stack}, ${n} idle: ${r.perSecond.toFixed(0)} connects/s\n`);
    }
  } finally {
    await Promise.all(idle.map((c) => c.stop()));
    await client.stop();
    await server.stop();
  }
  return rows;
}

const results = new Map<StackName, Map<number, Row>>();
for (const stack of STACKS) results.set(stack, await measure(stack));
const cell = (stack: StackName, n: number, f: (r: Row) => string) => {
  const r = results.get(stack)?.get(n);
  return r ? f(r) : '-';
};
console.log(`| idle connections on the server | ${STACKS.map((s) => `${s} connects/s (p50 ms, server CPU ms per connect)`).join(' | ')} |${STACKS.length === 2 ? ' tcomms advantage |' : ''}`);
console.log(`|---:|${STACKS.map(() => '---:|').join('')}${STACKS.length === 2 ? '---:|' : ''}`);
for (const n of STEPS) {
  const cells = STACKS.map((s) => cell(s, n, (r) => `${r.perSecond.toFixed(0)} (${r.p50Ms.toFixed(2)}, ${r.serverCpuMs.toFixed(2)})`));
  const a = results.get('tcomms')?.get(n);
  const b = results.get('js-libp2p')?.get(n);
  console.log(`| ${n.toLocaleString('en-US')} | ${cells.join(' | ')} |${STACKS.length === 2 ? ` ${a && b ? `${(a.perSecond / b.perSecond).toFixed(2)}x` : '-'} |` : ''}`);
}
console.log(`\n${MEASURED} connects per row after 300 uncounted (1,600 before the first), server in a second process; Node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`);
process.exit(0);
