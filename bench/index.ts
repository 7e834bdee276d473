/**
 * `npm run bench`: the secure channel, in one run. Inline vs pool, stablelib vs native:
 * handshakes/s (sequential and 32 concurrent), encrypted throughput with 64 KiB, 1 KiB and
 * 100 B writes over an in-memory pair, the cost of sealing and framing one 100-byte write,
 * and one-way throughput over TCP loopback between two processes against raw TCP.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { NoiseSecureChannel, noiseStaticKeys } from '../channels/secure-channel.js';
import type { CryptoPolicy } from '../channels/crypto-policy.js';
import { nativeProvider, stablelibProvider, type CryptoProvider } from '../core/crypto/index.js';
import { NodeIdentity } from '../core/keys.js';
import { CipherState } from '../protocols/noise/cipher-state.js';
import { NoiseEncoder } from '../protocols/noise/transport.js';
import { duplexPair } from '../transports/memory/duplex-pair.js';
import { PoolExecutor, type TaskExecutor } from '../workers/executor.js';
import { median, medianOf, ratePerSecond, scriptArgs, table, type Row } from './harness.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const GIB = 1024 * 1024 * 1024;
const alice = NodeIdentity.generate();
const bob = NodeIdentity.generate();

interface Config {
  name: string;
  provider: CryptoProvider;
  executor?: TaskExecutor;
  policy?: Partial<CryptoPolicy>;
}

function channels(c: Config): [NoiseSecureChannel, NoiseSecureChannel] {
  const make = (id: NodeIdentity) =>
    new NoiseSecureChannel({
      staticKeys: noiseStaticKeys(id, c.provider),
      provider: c.provider,
      ...(c.executor === undefined ? {} : { executor: c.executor }),
      ...(c.policy === undefined ? {} : { policy: c.policy }),
    });
  return [make(alice), make(bob)];
}

async function handshakeOnce(a: NoiseSecureChannel, b: NoiseSecureChannel): Promise<void> {
  const [x, y] = duplexPair();
  const [sa, sb] = await Promise.all([a.secureOutbound(x, { dialedPublicKey: bob.publicKey }), b.secureInbound(y)]);
  sa.destroy();
  sb.destroy();
}

/** Complete handshakes per second with `concurrency` pairs in flight. */
async function handshakesPerSecond(c: Config, concurrency: number, total: number): Promise<number> {
  const [a, b] = channels(c);
  return ratePerSecond(concurrency, total, () => handshakeOnce(a, b));
}

/** MB/s through an in-memory pair with writes of `size` bytes. */
async function throughput(c: Config, size: number, total: number): Promise<number> {
  const [a, b] = channels(c);
  const [x, y] = duplexPair({ highWaterMark: 256 * 1024 });
  const [sa, sb] = await Promise.all([a.secureOutbound(x), b.secureInbound(y)]);
  const chunk = Buffer.alloc(size, 1);
  total -= total % size;
  let got = 0;
  const done = new Promise<void>((resolve) => {
    sb.on('data', (d: Buffer) => (got += d.length));
    sb.on('end', resolve);
  });
  const t = performance.now();
  for (let sent = 0; sent < total; sent += size) if (!sa.write(chunk)) await once(sa, 'drain');
  sa.end();
  await done;
  const ms = performance.now() - t;
  sa.destroy();
  sb.destroy();
  if (got !== total) throw new Error(`lost bytes: ${got} of ${total}`);
  return total / ms / 1000;
}

/** Microseconds to seal and frame one 100-byte write. */
function sealFrameMicros(provider: CryptoProvider, n: number): number {
  const enc = new NoiseEncoder(new CipherState(provider, new Uint8Array(32).fill(3)));
  const data = Buffer.alloc(100, 9);
  const out: Uint8Array[] = [];
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    out.length = 0;
    enc.encrypt(data, out);
  }
  return ((performance.now() - t) * 1000) / n;
}

/** One-way MB/s over TCP loopback to a receiver in another process: the whole transfer, and its first GiB. */
async function tcpTwoProcess(mode: 'raw' | 'inline' | 'pool', total: number): Promise<{ whole: number; firstGiB: number }> {
  const child = spawn(process.execPath, [...scriptArgs(import.meta.url, './tcp-peer'), mode], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const { port } = JSON.parse((await lines.next()).value as string) as { port: number };
  const socket = connect({ host: '127.0.0.1', port, noDelay: true, allowHalfOpen: true });
  await once(socket, 'connect');
  const executor = mode === 'pool' ? new PoolExecutor({ threads: 1 }) : undefined;
  const stream =
    mode === 'raw'
      ? socket
      : await new NoiseSecureChannel({
          staticKeys: noiseStaticKeys(alice),
          ...(executor === undefined ? {} : { executor, policy: { bulkPoolThreshold: 16 * 1024 } }),
        }).secureOutbound(socket);
  const chunk = Buffer.alloc(64 * 1024, 5);
  for (let sent = 0; sent < total; sent += chunk.length) if (!stream.write(chunk)) await once(stream, 'drain');
  stream.end();
  const result = JSON.parse((await lines.next()).value as string) as { bytes: number; ms: number; firstGiBMs: number };
  child.stdin!.end();
  await once(child, 'exit');
  socket.destroy();
  await executor?.close();
  if (result.bytes !== total) throw new Error(`receiver got ${result.bytes} of ${total}`);
  return { whole: result.bytes / result.ms / 1000, firstGiB: GIB / result.firstGiBMs / 1000 };
}

/**
 * Complete handshakes per second between two processes over TCP loopback (each process does
 * its own side, as two nodes would), `concurrency` dials in flight; `accept` is the baseline of
 * plain TCP connections answered with one byte, measured in the same run.
 */
async function tcpHandshakes(mode: 'accept' | 'handshake' | 'handshake-service', concurrency: number, total: number): Promise<number> {
  const child = spawn(process.execPath, [...scriptArgs(import.meta.url, './tcp-peer'), mode], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const { port } = JSON.parse((await lines.next()).value as string) as { port: number };
  const executor = mode === 'handshake-service' ? new PoolExecutor({ threads: 1 }) : undefined;
  const channel = new NoiseSecureChannel({ staticKeys: noiseStaticKeys(alice), ...(executor === undefined ? {} : { executor, policy: { x25519OnPool: true } }) });
  const responder = NodeIdentity.fromSeed(new Uint8Array(32).fill(7)).publicKey;
  const one = async () => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true, allowHalfOpen: true });
    await once(socket, 'connect');
    const stream = mode === 'accept' ? socket : await channel.secureOutbound(socket, { dialedPublicKey: responder });
    await once(stream, 'data');
    stream.destroy();
    socket.destroy();
  };
  for (let i = 0; i < 50; i++) await one(); // warm-up of both processes
  const rate = await ratePerSecond(concurrency, total, one);
  child.stdin!.end();
  await once(child, 'exit');
  channel.x25519Service?.close();
  await executor?.close();
  return rate;
}

/** `BENCH_ONLY=tcp` runs only the one-way throughput between two processes over TCP; `seal`, only the seal-and-frame figure. */
const ONLY = process.env.BENCH_ONLY;

async function main(): Promise<void> {
  if (ONLY === 'tcp') return tcpFigures();
  if (ONLY === 'seal') return sealFigures();
  const pool = new PoolExecutor({ threads: 2 });
  const service = new PoolExecutor({ threads: 1 });
  const configs: Config[] = [
    { name: 'native, in-thread', provider: nativeProvider },
    { name: 'native, X25519 service (1 pool thread)', provider: nativeProvider, executor: service, policy: { x25519OnPool: true } },
    { name: 'native, pool (2 threads)', provider: nativeProvider, executor: pool, policy: { handshakeOnPool: true, bulkPoolThreshold: 1 } },
    { name: 'stablelib, in-thread', provider: stablelibProvider },
    { name: 'stablelib, pool (2 threads)', provider: stablelibProvider, executor: pool, policy: { handshakeOnPool: true, bulkPoolThreshold: 1 } },
  ];
  console.log(`tcomms secure-channel benchmark: node ${process.version}, ${RUNS} runs per figure (median)`);
  const baseline = 'stablelib, in-thread';

  for (const [label, concurrency] of [
    ['sequential', 1],
    ['32 concurrent pairs', 32],
  ] as const) {
    const rows = [];
    for (const c of configs) {
      const count = c.provider === nativeProvider ? 2000 : 120;
      rows.push({ name: c.name, value: await medianOf(RUNS, () => handshakesPerSecond(c, concurrency, count)) });
    }
    table(`Complete XX handshakes/s, ${label} (both sides in this process)`, 'handshakes/s', rows, baseline);
  }

  {
    const rows = [
      { name: 'plain TCP connect + 1-byte reply', value: await medianOf(RUNS, () => tcpHandshakes('accept', 32, 2000)) },
      { name: 'native, in-thread, XX handshake', value: await medianOf(RUNS, () => tcpHandshakes('handshake', 32, 2000)) },
      { name: 'native, X25519 service (1 thread each)', value: await medianOf(RUNS, () => tcpHandshakes('handshake-service', 32, 2000)) },
    ];
    table('Complete XX handshakes/s between two processes over TCP loopback, 32 concurrent dials', 'per second', rows, 'plain TCP connect + 1-byte reply');
  }

  for (const [size, native, js] of [
    [64 * 1024, 256 * 1024 * 1024, 24 * 1024 * 1024],
    [1024, 32 * 1024 * 1024, 8 * 1024 * 1024],
    [100, 4 * 1024 * 1024, 1024 * 1024],
  ] as const) {
    const rows = [];
    for (const c of configs) rows.push({ name: c.name, value: await medianOf(RUNS, () => throughput(c, size, c.provider === nativeProvider ? native : js)) });
    table(`Encrypted throughput, ${size}-byte writes, memory pair (both sides in this process)`, 'MB/s', rows, baseline);
  }

  await sealFigures();
  await pool.close();
  await service.close();
  await tcpFigures();
}

/** Seal and frame of one 100-byte write, per provider. */
async function sealFigures(): Promise<void> {
  table(
    'Seal and frame one 100-byte write',
    'us',
    [
      { name: 'native', value: await medianOf(RUNS, async () => sealFrameMicros(nativeProvider, 100_000)) },
      { name: 'stablelib', value: await medianOf(RUNS, async () => sealFrameMicros(stablelibProvider, 20_000)) },
    ],
    'stablelib',
  );
}

/**
 * Two-process throughput. Raw TCP and the in-thread channel send 4 GiB a run: both processes
 * take about 0.3 s to warm up (JIT, heap sizing, TCP windows), which is a quarter of a 1 GiB
 * transfer, so the first GiB of the same runs is shown on its own row. The pool sends 1 GiB.
 */
async function tcpFigures(): Promise<void> {
  const rows: Row[] = [];
  for (const mode of ['raw', 'inline', 'pool'] as const) {
    const runs: { whole: number; firstGiB: number }[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await tcpTwoProcess(mode, mode === 'pool' ? GIB : 4 * GIB));
    const name = mode === 'raw' ? 'raw TCP, no encryption' : mode === 'inline' ? 'native, in-thread' : 'native, pool (>=16 KiB, 1 thread/side)';
    rows.push({ name: mode === 'pool' ? `${name}, 1 GiB` : `${name}, 4 GiB`, value: median(runs.map((r) => r.whole)) });
    if (mode !== 'pool') rows.push({ name: `${name}, first GiB`, value: median(runs.map((r) => r.firstGiB)) });
  }
  table('One-way throughput over TCP loopback between two processes, 64 KiB writes', 'MB/s', rows, 'raw TCP, no encryption, 4 GiB');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
