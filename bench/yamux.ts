/**
 * yamux benchmark: tcomms's yamux against @chainsafe/libp2p-yamux (the baseline, measured in the
 * same run) over the same in-memory duplex pair, both ends in this process. Figures are medians.
 * Run with --expose-gc for the memory figures: `npm run bench:yamux`.
 */
import { once } from 'node:events';
import { YamuxMuxer } from '../channels/yamux/muxer.js';
import type { YamuxStream } from '../channels/yamux/stream.js';
import { duplexPair } from '../transports/memory/duplex-pair.js';
import { libp2pYamux } from '../spec/support/libp2p-yamux.js';
import { medianOf, table } from './harness.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);

/** One implementation, reduced to what the bench needs. */
interface Impl {
  name: string;
  /** A connected pair; the server counts what each inbound stream receives. */
  setup(onReceived: (bytes: number, ended: boolean) => void): Promise<{ open(): Promise<Writer>; close(): void; serverStreams(): number }>;
}
interface Writer {
  write(chunk: Uint8Array): Promise<void> | void;
  end(): Promise<void> | void;
}

const tcomms: Impl = {
  name: 'tcomms yamux',
  async setup(onReceived) {
    const [a, b] = duplexPair();
    const client = new YamuxMuxer(a, { client: true, config: { keepaliveIntervalMs: 0 } });
    const server = new YamuxMuxer(b, {
      client: false,
      config: { keepaliveIntervalMs: 0 },
      onStream: (s: YamuxStream) => {
        s.on('data', (d: Buffer) => onReceived(d.length, false));
        s.on('end', () => onReceived(0, true));
      },
    });
    return {
      async open() {
        const s = client.newStream();
        return {
          write: (chunk) => (s.write(chunk) ? undefined : once(s, 'drain').then(() => undefined)),
          end: () => void s.end(),
        };
      },
      close() {
        client.abort();
        server.abort();
      },
      serverStreams: () => server.streamCount,
    };
  },
};

const chainsafe: Impl = {
  name: '@chainsafe/libp2p-yamux 8.0.1',
  async setup(onReceived) {
    const [a, b] = duplexPair();
    const client = libp2pYamux(a, true);
    const server = libp2pYamux(b, false);
    server.addEventListener('stream', (evt) => {
      const s = evt.detail;
      s.addEventListener('message', (e) => onReceived(e.data.byteLength, false));
      s.addEventListener('remoteCloseWrite', () => onReceived(0, true));
    });
    return {
      async open() {
        const s = await client.createStream();
        return {
          write: (chunk) => (s.send(chunk) ? undefined : s.onDrain()),
          end: () => s.close(),
        };
      },
      close() {
        client.abort(new Error('bench over'));
        server.abort(new Error('bench over'));
      },
      serverStreams: () => server.streams.length,
    };
  },
};

/** JS heap plus the memory behind Buffers and ArrayBuffers. */
function heapAndBuffers(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** MB/s to move `perStream` bytes on each of `streams` streams in `writeSize` writes. */
async function throughput(impl: Impl, streams: number, perStream: number, writeSize: number): Promise<number> {
  let received = 0;
  let ended = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const session = await impl.setup((n, end) => {
    received += n;
    if (end && ++ended === streams) done();
  });
  const chunk = new Uint8Array(writeSize).fill(7);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: streams }, async () => {
      const w = await session.open();
      for (let sent = 0; sent < perStream; sent += writeSize) await w.write(chunk);
      await w.end();
    }),
  );
  await finished;
  const ms = performance.now() - start;
  session.close();
  if (received !== streams * perStream) throw new Error(`${impl.name}: received ${received} of ${streams * perStream}`);
  return received / ms / 1000;
}

/** 100-byte messages per second on one stream. */
async function messages(impl: Impl, count: number, size = 100): Promise<number> {
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const session = await impl.setup((n) => {
    received += n;
    if (received === count * size) done();
  });
  const w = await session.open();
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const p = w.write(new Uint8Array(size).fill(i & 0xff));
    if (p !== undefined) await p;
  }
  await finished;
  const ms = performance.now() - start;
  await w.end();
  session.close();
  return count / (ms / 1000);
}

/** Heap bytes per idle stream (both ends live in this process: the figure is per end). */
async function idleStreamBytes(impl: Impl, count: number): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return NaN;
  const session = await impl.setup(() => {});
  // Warm up: one stream each way so lazily built structures are not counted.
  const warm = await session.open();
  await warm.write(Uint8Array.of(1));
  gc();
  const before = heapAndBuffers();
  const writers: Writer[] = [];
  for (let i = 0; i < count; i++) writers.push(await session.open());
  for (let i = 0; i < 1000 && session.serverStreams() < count; i++) await new Promise((r) => setTimeout(r, 5));
  gc();
  const after = heapAndBuffers();
  if (session.serverStreams() < count) throw new Error(`${impl.name}: only ${session.serverStreams()} streams arrived`);
  session.close();
  return (after - before) / count / 2;
}

/** Heap bytes per idle connection end (a muxer with no streams, over a memory pair). */
async function idleConnectionBytes(impl: Impl, count: number): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return NaN;
  (await impl.setup(() => {})).close(); // warm-up
  gc();
  const before = heapAndBuffers();
  const sessions = [];
  for (let i = 0; i < count; i++) sessions.push(await impl.setup(() => {}));
  gc();
  const after = heapAndBuffers();
  for (const s of sessions) s.close();
  return (after - before) / count / 2;
}

async function main(): Promise<void> {
  console.log(`tcomms yamux benchmark: node ${process.version}, ${RUNS} runs per figure (median), in-memory duplex pair`);
  const impls = [tcomms, chainsafe];
  const base = chainsafe.name;
  const rows = async (fn: (i: Impl) => Promise<number>) => {
    const out = [];
    for (const impl of impls) {
      await fn(impl); // warm-up run (JIT), not counted
      out.push({ name: impl.name, value: await medianOf(RUNS, () => fn(impl)) });
    }
    return out;
  };
  table('Single stream, 64 KiB writes, 256 MiB', 'MB/s', await rows((i) => throughput(i, 1, 256 * 1024 * 1024, 64 * 1024)), base);
  table('8 concurrent streams, 64 KiB writes, 32 MiB each', 'MB/s', await rows((i) => throughput(i, 8, 32 * 1024 * 1024, 64 * 1024)), base);
  table('100-byte messages on one stream (100,000 messages)', 'messages/s', await rows((i) => messages(i, 100_000)), base);
  table('Idle stream: heap and buffers per stream end (500 streams)', 'bytes', await rows((i) => idleStreamBytes(i, 500)), base);
  table('Idle connection: heap and buffers per muxer end, memory pair included (200 connections)', 'bytes', await rows((i) => idleConnectionBytes(i, 200)), base);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
