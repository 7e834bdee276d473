/**
 * `npm run bench:peers`: the peer store at 1k, 10k and 100k peers, LMDB against in-memory:
 * puts/s (one transaction per peer, issued 1,000 at a time), gets/s by public key, and the
 * latency of closest-20 by the NodeId prefix walk against the baseline of scanning and sorting
 * the whole table (what a store without the index has to do), measured in the same run.
 * Medians of BENCH_RUNS runs (default 3).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareDistance, distance, type NodeId } from '../core/keys.js';
import { LmdbPeerStore } from '../storage/lmdb-store.js';
import { MemoryPeerStore } from '../storage/memory-store.js';
import { matchesFilter, type PeerStore } from '../storage/peer-store.js';
import type { Peer } from '../storage/peer.js';
import { randomPeer } from '../spec/support/peers.js';
import { median, table, type Row } from './harness.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZES = (process.env.BENCH_SIZES ?? '1000,10000,100000').split(',').map(Number);

async function fill(store: PeerStore, peers: Peer[]): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < peers.length; i += 1000) {
    await Promise.all(peers.slice(i, i + 1000).map((p) => store.update(p.publicKey, () => p)));
  }
  return peers.length / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function gets(store: PeerStore, peers: Peer[], n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await store.get(peers[(i * 7919) % peers.length]!.publicKey);
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** Median microseconds per closest-20 query. */
async function closestMicros(query: (target: NodeId) => Promise<Peer[]>, queries: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < queries; i++) {
    const target = randomPeer().nodeId;
    const start = process.hrtime.bigint();
    await query(target);
    times.push(Number(process.hrtime.bigint() - start) / 1e3);
  }
  return median(times);
}

/** The baseline: read every peer, filter, sort by distance, take 20. */
async function scanAndSort(store: PeerStore, target: NodeId): Promise<Peer[]> {
  const all = await store.all((p) => matchesFilter(p, { now: 0 }));
  return all.sort((a, b) => compareDistance(distance(target, a.nodeId), distance(target, b.nodeId))).slice(0, 20);
}

for (const size of SIZES) {
  const results: Record<string, number[]> = {};
  const push = (name: string, v: number) => (results[name] ??= []).push(v);
  for (let run = 0; run < RUNS; run++) {
    const peers = Array.from({ length: size }, () => randomPeer());
    const dir = mkdtempSync(join(tmpdir(), 'tcomms-bench-peers-'));
    const lmdb = await LmdbPeerStore.open({ path: join(dir, 'peers'), mapSize: 4 << 30 });
    const memory = new MemoryPeerStore();
    push('lmdb puts/s', await fill(lmdb, peers));
    push('memory puts/s', await fill(memory, peers));
    push('lmdb gets/s', await gets(lmdb, peers, 20_000));
    push('memory gets/s', await gets(memory, peers, 20_000));
    const scanQueries = size >= 100_000 ? 5 : 30;
    push('lmdb closest-20 (prefix walk) us', await closestMicros((t) => lmdb.closest(t, 20, { now: 0 }), 200));
    push('memory closest-20 (prefix walk) us', await closestMicros((t) => memory.closest(t, 20, { now: 0 }), 200));
    push('lmdb closest-20 (scan and sort) us', await closestMicros((t) => scanAndSort(lmdb, t), scanQueries));
    push('memory closest-20 (scan and sort) us', await closestMicros((t) => scanAndSort(memory, t), scanQueries));
    await lmdb.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const rows = (names: string[]): Row[] => names.map((name) => ({ name, value: median(results[name]!) }));
  table(`Peer store, ${size.toLocaleString('en-US')} peers: writes (median of ${RUNS})`, 'puts/s', rows(['memory puts/s', 'lmdb puts/s']), 'memory puts/s');
  table(`Peer store, ${size.toLocaleString('en-US')} peers: reads by public key`, 'gets/s', rows(['memory gets/s', 'lmdb gets/s']), 'memory gets/s');
  table(
    `Peer store, ${size.toLocaleString('en-US')} peers: closest-20, median latency`,
    'us/query',
    rows(['lmdb closest-20 (scan and sort) us', 'lmdb closest-20 (prefix walk) us', 'memory closest-20 (scan and sort) us', 'memory closest-20 (prefix walk) us']),
    'lmdb closest-20 (scan and sort) us',
  );
}
