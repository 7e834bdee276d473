/**
 * `npm run bench:rpc`: RPC over substreams (tcomms: Noise, yamux, PROTOCOL.md section 8) against
 * @grpc/grpc-js (plaintext HTTP/2) on loopback, the same `tcomms.bench.v1.Bench` messages
 * (protobuf-es) on both, in one process and across two; medians of several runs; a Markdown table
 * with the ratio tcomms/grpc-js (for latency and memory, lower is better: grpc-js/tcomms).
 *
 * Rows: unary calls/s with 100-byte messages (1 caller, 32 concurrent callers), p50 and p99 of a
 * unary call, server-streaming items/s with 1 KiB items, memory per idle session (JS heap and
 * buffers after GC, both sides, as the slope over 400 sessions; grpc-js has no session: its row
 * is a client channel with its own connection, over 200). `RPC_RUNS` (default 5) and `RPC_STACKS=tcomms,grpc-js`.
 */
import { cpus, totalmem } from 'node:os';
import { median } from './harness.js';
import { childScript } from './e2e/remote.js';
import { HOLD, startRpcClient, startRpcServer, type RpcBenchClient, type RpcServerInfo, type RpcStackName } from './rpc/stacks.js';

const RUNS = Number(process.env.RPC_RUNS ?? 5);
const STACKS = (process.env.RPC_STACKS ?? 'tcomms,grpc-js').split(',') as RpcStackName[];
const MESSAGE = new Uint8Array(100).fill(7);

/** A server here or in a second process, with what it holds (0 for one here: this process counts it). */
interface Server {
  info: RpcServerInfo;
  held(): Promise<number>;
  stop(): Promise<void>;
}

async function server(stack: RpcStackName, two: boolean): Promise<Server> {
  if (!two) {
    const s = await startRpcServer(stack);
    return { info: s.info, held: async () => 0, stop: () => s.stop() };
  }
  const child = childScript('./rpc/peer', [stack]);
  const info = JSON.parse(await child.next()) as RpcServerInfo;
  return {
    info,
    held: async () => {
      child.send('held');
      return (JSON.parse(await child.next()) as { held: number }).held;
    },
    stop: () => child.stop(),
  };
}

/** Calls/s of `total` unary calls with `concurrency` callers. */
async function unaryRate(client: RpcBenchClient, concurrency: number, total: number): Promise<number> {
  let started = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < total) {
        started++;
        await client.echo(MESSAGE);
      }
    }),
  );
  return (total / (performance.now() - t)) * 1000;
}

/** p50 and p99 (us) of `n` sequential unary calls. */
async function latency(client: RpcBenchClient, n: number): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await client.echo(MESSAGE);
    times.push((performance.now() - t) * 1000);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(n * 0.5)]!, p99: times[Math.floor(n * 0.99)]! };
}

async function streamRate(client: RpcBenchClient, count: number): Promise<number> {
  const t = performance.now();
  const got = await client.stream(count, 1024);
  if (got !== count) throw new Error(`the stream gave ${got} items of ${count}`);
  return (count / (performance.now() - t)) * 1000;
}

/** What this process holds once its heap settled (GC, a pause, GC again): the JS heap and buffers. */
async function heldBytes(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  await new Promise((r) => setTimeout(r, 300));
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/**
 * KB per idle session, both sides (JS heap and buffers after GC), as the slope from 100 to 500
 * sessions. tcomms: one client with room for 500 sessions to the server, opened by as many calls
 * held at once (200 ms each); grpc-js: that many clients (100 to 300), each with its own channel
 * and connection, each after one call.
 */
async function memoryPerSession(stack: RpcStackName, s: Server): Promise<number> {
  const both = async () => (await heldBytes()) + (await s.held());
  if (stack === 'tcomms') {
    const client = await startRpcClient(s.info, { sessionsPerPeer: 500 });
    try {
      const open = (n: number) => Promise.all(Array.from({ length: n }, () => client.echo(HOLD)));
      await open(100);
      const before = await both();
      await open(500);
      const after = await both();
      return (after - before) / 400 / 1024;
    } finally {
      await client.stop();
    }
  }
  const clients: RpcBenchClient[] = [];
  try {
    const add = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const c = await startRpcClient(s.info);
        await c.echo(MESSAGE);
        clients.push(c);
      }
    };
    await add(100);
    const before = await both();
    await add(200);
    const after = await both();
    return (after - before) / 200 / 1024;
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
  }
}

type Results = Record<string, Partial<Record<RpcStackName, number>>>;

async function measure(stack: RpcStackName, two: boolean, label: string, results: Results): Promise<void> {
  const put = (row: string, v: number) => ((results[`${row} (${label})`] ??= {})[stack] = v);
  const s = await server(stack, two);
  const client = await startRpcClient(s.info);
  try {
    // Warm-up, not counted: the JIT, the heaps, the sessions (tcomms) and streams (HTTP/2).
    await unaryRate(client, 32, 20_000);
    await streamRate(client, 50_000);
    const runs = <T>(fn: () => Promise<T>) => Array.from({ length: RUNS }).reduce<Promise<T[]>>(async (acc) => [...(await acc), await fn()], Promise.resolve([]));
    put('unary calls/s, 100-byte messages, 1 caller', median(await runs(() => unaryRate(client, 1, 5_000))));
    put('unary calls/s, 100-byte messages, 32 concurrent callers', median(await runs(() => unaryRate(client, 32, 20_000))));
    const lat = await runs(() => latency(client, 5_000));
    put('unary call latency p50, us', median(lat.map((l) => l.p50)));
    put('unary call latency p99, us', median(lat.map((l) => l.p99)));
    put('server-streaming items/s, 1 KiB items', median(await runs(() => streamRate(client, 100_000))));
    const mem: number[] = [];
    for (let r = 0; r < Math.min(RUNS, 3); r++) mem.push(await memoryPerSession(stack, s));
    put('memory per idle session, KB (heap and buffers), both sides', median(mem));
  } finally {
    await client.stop();
    await s.stop();
  }
}

const LOWER_IS_BETTER = /latency|memory/;

function print(results: Results): void {
  const f = (x: number | undefined) => (x === undefined ? '-' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));
  const lines = [
    '| workload | tcomms | grpc-js | tcomms advantage |',
    '|---|---:|---:|---:|',
    ...Object.entries(results).map(([row, v]) => {
      const t = v.tcomms;
      const g = v['grpc-js'];
      const ratio = t === undefined || g === undefined ? NaN : LOWER_IS_BETTER.test(row) ? g / t : t / g;
      return `| ${row} | ${f(t)} | ${f(g)} | ${Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '-'} |`;
    }),
  ];
  console.log(lines.join('\n'));
  console.log(
    `\nmedians of ${RUNS} runs (memory: of ${Math.min(RUNS, 3)}); grpc-js has no session: its memory row is a client channel with its own connection. Node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
  );
}

const results: Results = {};
for (const [label, two] of [['one process', false], ['two processes', true]] as const) {
  for (const stack of STACKS) {
    process.stderr.write(`${stack}, ${label}...\n`);
    await measure(stack, two, label, results);
  }
}
print(results);
process.exit(0);
