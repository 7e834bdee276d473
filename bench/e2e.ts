/**
 * `npm run bench:e2e`: tcomms against js-libp2p on loopback, same workloads, in one process and
 * across two processes; medians of several runs; a Markdown table with the ratio tcomms/js-libp2p
 * (for the RTT and RSS rows, lower is better, so the ratio shown is js-libp2p/tcomms).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { median } from './harness.js';
import { startClient, startServer, type ServerInfo, type StackName } from './e2e/stacks.js';
import { concurrentDials, roundTrip, sequentialConnects, smallMessages, streamThroughput } from './e2e/workloads.js';

const RUNS = Number(process.env.E2E_RUNS ?? 3);
const STACKS: StackName[] = ['tcomms', 'js-libp2p'];
const PEER = fileURLToPath(new URL('./e2e/peer.ts', import.meta.url));

interface Remote {
  info: ServerInfo;
  rss(): Promise<number>;
  stop(): Promise<void>;
}

async function remoteServer(stack: StackName): Promise<Remote> {
  const child: ChildProcess = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', PEER, stack], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: Interface = createInterface({ input: child.stdout! });
  const next = () => new Promise<string>((resolve) => lines.once('line', resolve));
  const info = JSON.parse(await next()) as ServerInfo;
  return {
    info,
    rss: async () => {
      child.stdin!.write('rss\n');
      return (JSON.parse(await next()) as { rss: number }).rss;
    },
    stop: async () => {
      child.stdin!.write('stop\n');
      await new Promise((r) => child.once('close', r));
    },
  };
}

async function localServer(stack: StackName): Promise<Remote> {
  const server = await startServer(stack);
  return { info: server.info, rss: async () => 0, stop: () => server.stop() };
}

function rss(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss;
}

/** RSS per idle connection (MB), both sides: `n` client nodes, measured before and after connecting. */
async function rssPerConnection(stack: StackName, server: Remote, n: number): Promise<number> {
  const clients = [];
  for (let i = 0; i < n; i++) clients.push(await startClient(stack));
  try {
    const [clientBefore, serverBefore] = [rss(), await server.rss()];
    for (let i = 0; i < n; i += 50) await Promise.all(clients.slice(i, i + 50).map((c) => c.connect(server.info)));
    await new Promise((r) => setTimeout(r, 500));
    const [clientAfter, serverAfter] = [rss(), await server.rss()];
    return (clientAfter - clientBefore + (serverAfter - serverBefore)) / n / 1e6;
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
  }
}

type Results = Record<string, Record<StackName, number>>;

async function measure(stack: StackName, twoProcesses: boolean, results: Results, label: string): Promise<void> {
  const put = (row: string, v: number) => ((results[`${row} (${label})`] ??= {} as Record<StackName, number>)[stack] = v);
  const server = twoProcesses ? await remoteServer(stack) : await localServer(stack);
  const client = await startClient(stack);
  try {
    const seq: Array<{ perSecond: number; p50Ms: number }> = [];
    for (let r = 0; r < RUNS; r++) seq.push(await sequentialConnects(client, server.info, 200));
    put('sequential connects/s', median(seq.map((s) => s.perSecond)));
    put('connect latency p50, ms', median(seq.map((s) => s.p50Ms)));
    const dials: number[] = [];
    for (let r = 0; r < RUNS; r++) dials.push(await concurrentDials(stack, server.info, 32, 5));
    put('32 concurrent dials/s', median(dials));
    const mbps: number[] = [];
    for (let r = 0; r < RUNS; r++) mbps.push(await streamThroughput(client, server.info, 256 * 1024 * 1024));
    put('one-stream throughput, MB/s (64 KiB writes)', median(mbps));
    const msgs: number[] = [];
    let counted = 0;
    for (let r = 0; r < RUNS; r++) {
      msgs.push(await smallMessages(client, server.info, 50_000, counted));
      counted += 50_000;
    }
    put('100-byte messages/s one way', median(msgs));
    const rtts: number[] = [];
    for (let r = 0; r < RUNS; r++) rtts.push(await roundTrip(client, server.info, 2_000));
    put('request/response RTT p50, us', median(rtts));
    put('RSS per idle connection, MB (both sides)', await rssPerConnection(stack, server, 500));
  } finally {
    await client.stop();
    await server.stop();
  }
}

const LOWER_IS_BETTER = /RTT|latency|RSS/;

function print(results: Results): void {
  const lines = [
    `| workload | tcomms | js-libp2p | tcomms advantage |`,
    `|---|---:|---:|---:|`,
    ...Object.entries(results).map(([row, v]) => {
      const ratio = LOWER_IS_BETTER.test(row) ? v['js-libp2p'] / v.tcomms : v.tcomms / v['js-libp2p'];
      const f = (x: number) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(x >= 1 ? 2 : 3));
      return `| ${row} | ${f(v.tcomms)} | ${f(v['js-libp2p'])} | ${ratio.toFixed(2)}x |`;
    }),
  ];
  console.log(lines.join('\n'));
  console.log(`\nmedians of ${RUNS} runs (RSS: one run); Node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB`);
}

const results: Results = {};
for (const [label, two] of [['one process', false], ['two processes', true]] as const) {
  for (const stack of STACKS) {
    process.stderr.write(`${stack}, ${label}...\n`);
    await measure(stack, two, results, label);
  }
}
print(results);
process.exit(0);
