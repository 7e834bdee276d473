/**
 * `npm run bench:saf`: the store-and-forward store (PROTOCOL.md 9.7), LMDB against in-memory,
 * at BENCH_SAF_SIZES stored messages (default 1,000 and 10,000) of sealed-envelope size (6,147
 * bytes: one 6,000-byte block, 9.3): puts/s (one transaction each, 64 in flight, as a node
 * stores what its peers relay), puts/s at capacity (each evicting the oldest), requests served
 * per second (messagesFor one destination, then remove what was served: 50 messages per
 * request, as 9.7 serves them; 8 in flight), and the median latency of a region query (a 6-bit NodeId
 * prefix). The naive model of the tests (spec/support/saf-model.ts: one array, a filter and a
 * sort per query) is the baseline at 1,000 messages, measured in the same run (it is O(n) per
 * operation: at 10,000 the memory store is the baseline). Medians of BENCH_RUNS runs (default 3).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafModel } from '../spec/support/saf-model.js';
import { LmdbSafStore } from '../storage/saf-lmdb-store.js';
import { MemorySafStore } from '../storage/saf-memory-store.js';
import { resolveSafLimits, type SafMessageInit, type SafStoreLimits } from '../storage/saf-store.js';
import { median, ratePerSecond, table, type Row } from './harness.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZES = (process.env.BENCH_SAF_SIZES ?? '1000,10000').split(',').map(Number);
/** A sealed DOMAIN envelope with one 6,000-byte block: header (about 115 bytes) and body (6,016). */
const ENVELOPE_BYTES = 6_147;
/** Messages per destination: one full SAF response each (9.7: limit 50). */
const PER_DESTINATION = 50;
const NOW = 1_000_000;

/** The subset of the store the bench drives (the naive model has it too, synchronously). */
interface Subject {
  put(m: SafMessageInit): unknown;
  messagesFor(destination: Uint8Array, o: { since: number; limit: number; maxBytes: number; now: number }): unknown;
  remove(destination: Uint8Array, ids: readonly number[]): unknown;
  messagesInRegion(region: { center: Uint8Array; prefixBits: number }, o: { since: number; limit: number; maxBytes: number; now: number }): unknown;
}

interface Workload {
  destinations: Uint8Array[];
  messages: SafMessageInit[];
}

function workload(size: number): Workload {
  const destinations = Array.from({ length: Math.ceil(size / PER_DESTINATION) }, () => new Uint8Array(randomBytes(32)));
  const senders = Array.from({ length: 16 }, () => new Uint8Array(randomBytes(32)));
  const body = new Uint8Array(randomBytes(ENVELOPE_BYTES));
  const messages = Array.from({ length: size }, (_, i) => ({
    destination: destinations[i % destinations.length]!,
    envelope: body,
    sender: senders[i % senders.length]!,
    dedupKey: new Uint8Array(randomBytes(32)),
    expires: BigInt(NOW + 259_200),
    storedAt: NOW + Math.floor(i / 100),
    destinationKnown: true,
  }));
  return { destinations, messages };
}

const fresh = (m: SafMessageInit, storedAt: number): SafMessageInit => ({ ...m, dedupKey: new Uint8Array(randomBytes(32)), storedAt });

async function puts(subject: Subject, messages: readonly SafMessageInit[]): Promise<number> {
  let i = 0;
  return ratePerSecond(64, messages.length, async () => {
    await subject.put(messages[i++]!);
  });
}

/**
 * Requests served per second, 8 in flight (a node serving several peers): each fetches one
 * destination's messages and removes them. Every destination is served once per round; rounds
 * repeat (the store refilled between them, untimed) until at least `requests` were served.
 */
async function serves(subject: Subject, w: Workload, requests: number): Promise<number> {
  let served = 0;
  let ms = 0;
  for (let round = 0; served < requests; round++) {
    if (round > 0) await puts(subject, w.messages.map((m) => fresh(m, m.storedAt as number)));
    let i = 0;
    const t = performance.now();
    await ratePerSecond(8, w.destinations.length, async () => {
      const destination = w.destinations[i++]!;
      const got = (await subject.messagesFor(destination, { since: 0, limit: PER_DESTINATION, maxBytes: 8_388_000, now: NOW + 1_000 })) as { ids: number[] };
      await subject.remove(destination, got.ids);
    });
    ms += performance.now() - t;
    served += w.destinations.length;
  }
  return (served / ms) * 1000;
}

/** Median microseconds of a region query (a 6-bit prefix: 1/64 of the destinations). */
async function regionMicros(subject: Subject, queries: number): Promise<number> {
  const times: number[] = [];
  for (let q = 0; q < queries; q++) {
    const center = new Uint8Array(randomBytes(13));
    const t = performance.now();
    await subject.messagesInRegion({ center, prefixBits: 6 }, { since: 0, limit: 50, maxBytes: 8_388_000, now: NOW + 1_000 });
    times.push((performance.now() - t) * 1000);
  }
  return median(times);
}

for (const size of SIZES) {
  const results: Record<string, number[]> = {};
  const push = (name: string, v: number) => (results[name] ??= []).push(v);
  const naive = size <= 1_000; // the model is O(n) per operation: O(n^2) for a fill, hours at 10,000 with the serving rounds
  for (let run = 0; run < RUNS; run++) {
    const w = workload(size);
    const limits: SafStoreLimits = resolveSafLimits({ maxMessages: size, maxBytes: size * ENVELOPE_BYTES, maxMessagesPerPeer: size, maxBytesPerPeer: size * ENVELOPE_BYTES });
    const dir = mkdtempSync(join(tmpdir(), 'tcomms-bench-saf-'));
    const lmdb = await LmdbSafStore.open({ path: join(dir, 'saf'), limits, mapSize: 4 * 1024 ** 3 });
    const subjects: Array<[string, Subject]> = [
      ['lmdb', lmdb],
      ['memory', new MemorySafStore({ limits })],
    ];
    if (naive) subjects.push(['naive model', new SafModel(limits)]);
    for (const [name, subject] of subjects) {
      push(`${name} puts/s`, await puts(subject, w.messages));
      push(`${name} region query us`, await regionMicros(subject, 50));
      push(`${name} requests served/s`, await serves(subject, w, 1_000));
      await puts(subject, w.messages.map((m) => fresh(m, m.storedAt as number))); // full again
      const over = w.messages.slice(0, Math.min(size, 2_000)).map((m, i) => fresh(m, NOW + 10_000 + i));
      push(`${name} puts/s at capacity (evicting)`, await puts(subject, over));
    }
    await lmdb.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const names = (op: string) => ['naive model', 'memory', 'lmdb'].filter((n) => results[`${n} ${op}`]).map((n) => `${n} ${op}`);
  const rows = (op: string): Row[] => names(op).map((name) => ({ name, value: median(results[name]!) }));
  const base = (op: string) => names(op)[0]!;
  const label = `${size.toLocaleString('en-US')} messages of ${ENVELOPE_BYTES.toLocaleString('en-US')} bytes`;
  table(`SAF store, ${label}: puts, 64 in flight (median of ${RUNS})`, 'puts/s', rows('puts/s'), base('puts/s'));
  table(`SAF store, ${label}: puts into a full store, each evicting the oldest`, 'puts/s', rows('puts/s at capacity (evicting)'), base('puts/s at capacity (evicting)'));
  table(`SAF store, ${label}: requests served (50 messages fetched, then removed)`, 'requests/s', rows('requests served/s'), base('requests served/s'));
  table(`SAF store, ${label}: region query (6-bit NodeId prefix), median latency`, 'us/query', rows('region query us'), base('region query us'));
}
