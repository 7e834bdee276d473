import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from 'lmdb';
import { fromHex } from '../../core/bytes.js';
import { NodeIdentity, type PublicKey } from '../../core/keys.js';
import { PeerStoreCorrupt, PeerStoreForeign, PeerStoreTooNew } from '../../storage/errors.js';
import { LmdbPeerStore } from '../../storage/lmdb-store.js';
import { lmdbHeaderProblem } from '../../storage/lmdb-header.js';
import fc from 'fast-check';
import { isBanned } from '../../storage/peer.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/peer-store-v0/', import.meta.url));
const WRITER = fileURLToPath(new URL('../fixtures/scripts/peer-writer.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('LMDB peer store', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tcomms-lmdb-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates a v0 store (the fixture) to the current schema, once', async () => {
    const path = join(dir, 'peers');
    cpSync(FIXTURE, path, { recursive: true });
    const store = await LmdbPeerStore.open({ path });
    const ids = [1, 2, 3].map((n) => NodeIdentity.fromSeed(new Uint8Array(32).fill(n)));
    expect(await store.count()).to.equal(3);
    for (const [i, id] of ids.entries()) {
      const peer = (await store.getByNodeId(id.nodeId))!;
      expect(Buffer.from(peer.publicKey).equals(Buffer.from(id.publicKey))).to.equal(true);
      expect(peer.addresses.map((a) => a.address)).to.deep.equal([`/ip4/10.0.0.${i + 1}/tcp/18141`, `/dns4/peer${i + 1}.example/tcp/18141`]);
      expect(peer.addresses[0]).to.deep.include({ source: 'manual', attempts: 0, consecutiveFailures: 0 });
      expect(peer).to.deep.include({ features: i, userAgent: `tcomms-v0/${i}`, addedAt: 1_700_000_000_000 + i, supportedProtocols: ['/tari/messaging/0.1.0'] });
      expect(isBanned(peer, 1_800_000_000_000)).to.equal(i === 2);
    }
    expect((await store.closest(ids[0]!.nodeId, 3, { now: 0, includeBanned: true })).length).to.equal(3);
    expect((await store.verify()).problems).to.deep.equal([]);
    await store.close();
    // The old table is gone and the schema is current: opening again changes nothing.
    const env = open({ path, maxDbs: 8 });
    expect(env.get('tcomms.schema')).to.equal(1);
    expect(env.get('peers-v0')).to.equal(undefined);
    await env.close();
    const again = await LmdbPeerStore.open({ path });
    expect(await again.count()).to.equal(3);
    await again.close();
  });

  it('refuses a file at the store path without touching it', async () => {
    const path = join(dir, 'peers');
    writeFileSync(path, 'not a database');
    const err = await LmdbPeerStore.open({ path }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PeerStoreCorrupt);
    expect((err as PeerStoreCorrupt).kind).to.equal('storage');
    expect(readFileSync(path, 'utf8')).to.equal('not a database');
  });

  it('refuses a damaged data file without touching it', async () => {
    const path = join(dir, 'peers');
    mkdirSync(path);
    writeFileSync(join(path, 'data.mdb'), Buffer.alloc(64 * 1024, 0x5a));
    const before = sha(join(path, 'data.mdb'));
    const err = await LmdbPeerStore.open({ path }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PeerStoreCorrupt);
    expect(sha(join(path, 'data.mdb'))).to.equal(before);
  });

  it('refuses a truncated data file (LMDB would map past its end)', async () => {
    const path = join(dir, 'peers');
    cpSync(FIXTURE, path, { recursive: true });
    const data = readFileSync(join(path, 'data.mdb'));
    writeFileSync(join(path, 'data.mdb'), data.subarray(0, 3 * 4096));
    const err = await LmdbPeerStore.open({ path }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PeerStoreCorrupt);
    expect((err as PeerStoreCorrupt).detail).to.match(/truncated/);
  });

  it('the meta-page check rejects random and damaged headers without throwing', () => {
    const file = join(dir, 'data.mdb');
    const good = readFileSync(join(FIXTURE, 'data.mdb'));
    expect(lmdbHeaderProblem(join(FIXTURE, 'data.mdb'))).to.equal(undefined);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9000 }), (bytes) => {
        writeFileSync(file, bytes);
        return typeof lmdbHeaderProblem(file) === 'string';
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xb0 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const damaged = Buffer.from(good);
        damaged[at]! ^= xor;
        writeFileSync(file, damaged);
        const problem = lmdbHeaderProblem(file);
        return problem === undefined || typeof problem === 'string';
      }),
      { numRuns: 300 },
    );
  });

  it('refuses an LMDB database that is not a peer store, and a newer schema', async () => {
    const foreign = join(dir, 'foreign');
    const env = open({ path: foreign });
    await env.put('somebody', 'else');
    await env.close();
    expect(await LmdbPeerStore.open({ path: foreign }).catch((e: unknown) => e)).to.be.instanceOf(PeerStoreForeign);
    const other = join(dir, 'other');
    const env2 = open({ path: other });
    await env2.put('tcomms.format', 'message-store');
    await env2.close();
    expect(await LmdbPeerStore.open({ path: other }).catch((e: unknown) => e)).to.be.instanceOf(PeerStoreForeign);
    const newer = join(dir, 'newer');
    const env3 = open({ path: newer });
    await env3.put('tcomms.format', 'peer-store');
    await env3.put('tcomms.schema', 99);
    await env3.close();
    const err = await LmdbPeerStore.open({ path: newer }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PeerStoreTooNew);
    expect((err as PeerStoreTooNew).version).to.equal(99);
  });

  it('reports a damaged record as PeerStoreCorrupt, not a crash', async () => {
    const path = join(dir, 'peers');
    const store = await LmdbPeerStore.open({ path });
    await store.close();
    const env = open({ path, maxDbs: 8 });
    const key = new Uint8Array(32).fill(1);
    await env.openDB({ name: 'peers', keyEncoding: 'binary' }).put(key, { pk: 'not bytes' });
    await env.close();
    const again = await LmdbPeerStore.open({ path });
    expect(await again.get(key as PublicKey).catch((e: unknown) => e)).to.be.instanceOf(PeerStoreCorrupt);
    await again.close();
  });

  it('keeps every acknowledged write when the process is killed (SIGKILL) mid-stream', async () => {
    const path = join(dir, 'peers');
    for (let round = 0; round < 2; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', WRITER, path], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      const puts = new Set<string>();
      const attempts = new Map<string, number>();
      let buffer = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the writer acknowledged too few writes in 30 s')), 30_000);
        child.stdout!.on('data', (d: Buffer) => {
          buffer += d.toString();
          const lines = buffer.split('\n');
          buffer = lines.pop()!;
          for (const line of lines) {
            const [kind, key, n] = line.split(' ');
            if (kind === 'put') puts.add(key!);
            else if (kind === 'attempt') attempts.set(key!, Number(n));
          }
          if (puts.size >= 400 + round * 300) {
            clearTimeout(timer);
            child.kill('SIGKILL');
            resolve();
          }
        });
        child.once('exit', (code) => code !== null && reject(new Error(`writer exited with ${code}`)));
      });
      await new Promise((r) => child.once('exit', r));
      const store = await LmdbPeerStore.open({ path });
      for (const key of puts) expect(await store.get(fromHex(key) as PublicKey), key).to.not.equal(undefined);
      for (const [key, n] of attempts) {
        const peer = (await store.get(fromHex(key) as PublicKey))!;
        expect(peer.addresses[0]!.attempts).to.be.greaterThanOrEqual(n);
      }
      const check = await store.verify();
      expect(check.problems).to.deep.equal([]);
      expect(check.peers).to.be.greaterThanOrEqual(puts.size);
      // The relayed-only records, bounded at 100 by the writer (evicting in each write's transaction), are counted as they are.
      expect(await store.countUnverified()).to.equal(100);
      await store.close();
    }
  });
});
