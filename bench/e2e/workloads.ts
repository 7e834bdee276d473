/** The end-to-end workloads, each run against a server through the `BenchClient` interface. */
import { randomBytes } from 'node:crypto';
import { median, roundTripP50 } from '../harness.js';
import { COUNT, ECHO, SINK, startClient, u64, type BenchClient, type ServerInfo, type StackName } from './stacks.js';


async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** Sequential connection set-up: connects/s and the p50 latency (ms) of one connect. */
export async function sequentialConnects(client: BenchClient, server: ServerInfo, n: number): Promise<{ perSecond: number; p50Ms: number }> {
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await client.connect(server);
    times.push(performance.now() - t);
    await client.disconnect(server);
  }
  return { perSecond: (n / (performance.now() - start)) * 1000, p50Ms: median(times) };
}

/** 32 clients dial at once, then hang up; completed dials per second over `rounds` rounds. */
export async function concurrentDials(stack: StackName, server: ServerInfo, clients: number, rounds: number): Promise<number> {
  const cs = await Promise.all(Array.from({ length: clients }, () => startClient(stack)));
  try {
    // A first round warms both sides up (and lets tcomms clients learn the address).
    await Promise.all(cs.map((c) => c.connect(server)));
    await Promise.all(cs.map((c) => c.disconnect(server)));
    let ms = 0;
    for (let r = 0; r < rounds; r++) {
      const t = performance.now();
      await Promise.all(cs.map((c) => c.connect(server)));
      ms += performance.now() - t;
      await Promise.all(cs.map((c) => c.disconnect(server)));
    }
    return ((clients * rounds) / ms) * 1000;
  } finally {
    await Promise.all(cs.map((c) => c.stop()));
  }
}

/** One stream, 64 KiB writes: MB/s (10^6 bytes) from the first write to the server's count. */
export async function streamThroughput(client: BenchClient, server: ServerInfo, totalBytes: number): Promise<number> {
  const chunk = randomBytes(64 * 1024);
  const stream = await client.open(server, SINK);
  const reply = readAll(stream.chunks());
  const t = performance.now();
  for (let sent = 0; sent < totalBytes; sent += chunk.length) await stream.write(chunk);
  await stream.end();
  const count = Number((await reply).readBigUInt64BE(0));
  const ms = performance.now() - t;
  if (count !== Math.ceil(totalBytes / chunk.length) * chunk.length) throw new Error(`sink counted ${count} bytes`);
  return count / 1e6 / (ms / 1000);
}

/**
 * `totalBytes` as 64 KiB messages, as `tcomms send --size 65536` sends them: one body for all,
 * at most 512 outstanding; resolves with the number sent once each was taken by the stream.
 */
export async function sendMessages(client: BenchClient, server: ServerInfo, totalBytes: number): Promise<number> {
  const body = randomBytes(64 * 1024);
  const n = Math.ceil(totalBytes / body.length);
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < n; i++) {
    if (i >= 512) await pending[i - 512];
    pending.push(client.message(server, body));
  }
  await Promise.all(pending);
  return n;
}

/** 100-byte messages one way: messages/s until the server counted them all. */
export async function smallMessages(client: BenchClient, server: ServerInfo, n: number, alreadyCounted: number): Promise<number> {
  const body = randomBytes(100);
  const counter = await client.open(server, COUNT);
  const t = performance.now();
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < n; i++) {
    if (i >= 512) await pending[i - 512];
    pending.push(client.message(server, body));
  }
  await Promise.all(pending);
  await counter.write(u64(alreadyCounted + n));
  const reply = await readAll(counter.chunks());
  const ms = performance.now() - t;
  if (Number(reply.readBigUInt64BE(0)) < alreadyCounted + n) throw new Error('the server counted too few messages');
  return (n / ms) * 1000;
}

/** Request/response: p50 round trip (µs) of a 32-byte request echoed on one stream. */
export async function roundTrip(client: BenchClient, server: ServerInfo, n: number): Promise<number> {
  const stream = await client.open(server, ECHO);
  const it = stream.chunks()[Symbol.asyncIterator]();
  const p50 = await roundTripP50(n, randomBytes(32), (data) => stream.write(data), () => it.next());
  await stream.end();
  return p50;
}
