import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from 'lmdb';
import { fromHex } from '../../core/bytes.js';
import { LmdbPeerStore } from '../../storage/lmdb-store.js';
import { SafStoreCorrupt, SafStoreForeign, SafStoreTooNew } from '../../storage/errors.js';
import { LmdbSafStore } from '../../storage/saf-lmdb-store.js';
import { SAF_TABLE_NAMES } from '../../storage/saf-lmdb-tables.js';

const WRITER = fileURLToPath(new URL('../fixtures/scripts/saf-writer.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const key = (n: number) => new Uint8Array(32).fill(n);
const ALL = { since: 0, limit: 50, maxBytes: 8_000_000 };

describe('LMDB SAF store', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tcomms-saf-lmdb-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every acknowledged put and removal when the process is killed (SIGKILL) mid-writes', async () => {
    const path = join(dir, 'saf');
    const puts = new Map<string, string>(); // destination -> sha256 of its envelope
    const removing = new Set<string>();
    const removed = new Set<string>();
    let cursor = 0;
    for (let round = 0; round < 2; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', WRITER, path], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      let buffer = '';
      let seen = 0;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the writer acknowledged too few writes in 40 s')), 40_000);
        child.stdout!.on('data', (d: Buffer) => {
          buffer += d.toString();
          const lines = buffer.split('\n');
          buffer = lines.pop()!;
          for (const line of lines) {
            const [kind, destination, value] = line.split(' ');
            if (kind === 'put') {
              puts.set(destination!, value!);
              seen++;
            } else if (kind === 'removing') removing.add(destination!);
            else if (kind === 'removed') removed.add(destination!);
            else if (kind === 'cursor') cursor = Number(value);
          }
          if (seen >= 400) {
            clearTimeout(timer);
            child.kill('SIGKILL');
            resolve();
          }
        });
        child.once('exit', (code) => code !== null && reject(new Error(`writer exited with ${code}`)));
      });
      await new Promise((r) => child.once('exit', r));
      const store = await LmdbSafStore.open({ path });
      const check = await store.verify();
      expect(check.problems).to.deep.equal([]);
      expect(removed.size).to.be.greaterThan(0);
      expect(await store.sinceOf(new Uint8Array(32).fill(9))).to.be.at.least(cursor);
      expect(cursor).to.be.greaterThan(0);
      let present = 0;
      for (const [destination, digest] of puts) {
        const got = await store.messagesFor(fromHex(destination), { ...ALL, now: 2_000 });
        if (removed.has(destination)) expect(got.messages, `removed ${destination}`).to.deep.equal([]);
        else if (!removing.has(destination)) {
          expect(got.messages.map((m) => sha(m.envelope)), destination).to.deep.equal([digest]);
          present++;
        }
      }
      expect(check.messages).to.be.at.least(present);
      expect((await store.stats()).count).to.equal(check.messages);
      await store.close();
    }
  });

  it('keeps its indexes and totals in agreement after concurrent puts, evictions, removals and sweeps', async () => {
    const store = await LmdbSafStore.open({ path: join(dir, 'saf'), limits: { maxMessages: 80, maxBytes: 400_000, maxMessagesPerPeer: 30, maxBytesPerPeer: 200_000 } });
    const ops: Array<Promise<unknown>> = [];
    for (let i = 0; i < 400; i++) {
      const destination = key(i % 5);
      ops.push(store.put({ destination, envelope: new Uint8Array(randomBytes(100 + ((i * 997) % 9_000))), sender: key(100 + (i % 4)), dedupKey: new Uint8Array(randomBytes(32)), storedAt: 1_000 + (i >> 3), expires: i % 9 === 0 ? 1_020 : 10_000_000, destinationKnown: i % 2 === 0, priority: i % 11 === 0 ? 1 : 0 }));
      if (i % 13 === 0) ops.push(store.messagesFor(destination, { ...ALL, now: 1_000 + (i >> 3) }).then((r) => store.remove(destination, r.ids.slice(0, 4))));
      if (i % 60 === 59) ops.push(store.expire(1_000 + (i >> 3), 5));
    }
    await Promise.all(ops);
    const check = await store.verify();
    expect(check.problems).to.deep.equal([]);
    expect(check.messages).to.be.within(1, 80);
    await store.close();
  });

  it('lives in its own environment, with exactly its tables', async () => {
    const path = join(dir, 'saf');
    const store = await LmdbSafStore.open({ path });
    await store.put({ destination: key(1), envelope: key(2), sender: key(3), dedupKey: key(4), storedAt: 1, expires: 100, destinationKnown: false });
    await store.close();
    const env = open({ path, maxDbs: 12 });
    const names = [...env.getKeys()].map(String).filter((k) => !k.startsWith('tcomms.') && !k.startsWith('saf.'));
    expect(names.sort()).to.deep.equal([...SAF_TABLE_NAMES].sort());
    expect(env.get('tcomms.format')).to.equal('saf-store');
    expect(env.get('tcomms.schema')).to.equal(1);
    await env.close();
  });

  it('refuses a file at the store path, a damaged data file, a peer store and a newer schema, without touching them', async () => {
    const file = join(dir, 'file');
    writeFileSync(file, 'not a database');
    expect(await LmdbSafStore.open({ path: file }).catch((e: unknown) => e)).to.be.instanceOf(SafStoreCorrupt);
    expect(readFileSync(file, 'utf8')).to.equal('not a database');

    const damaged = join(dir, 'damaged');
    mkdirSync(damaged);
    writeFileSync(join(damaged, 'data.mdb'), Buffer.alloc(64 * 1024, 0x5a));
    const before = sha(readFileSync(join(damaged, 'data.mdb')));
    const err = await LmdbSafStore.open({ path: damaged }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SafStoreCorrupt);
    expect((err as SafStoreCorrupt).kind).to.equal('storage');
    expect(sha(readFileSync(join(damaged, 'data.mdb')))).to.equal(before);

    const peers = join(dir, 'peers');
    await (await LmdbPeerStore.open({ path: peers })).close();
    expect(await LmdbSafStore.open({ path: peers }).catch((e: unknown) => e)).to.be.instanceOf(SafStoreForeign);
    const foreign = join(dir, 'foreign');
    const env = open({ path: foreign });
    await env.put('somebody', 'else');
    await env.close();
    expect(await LmdbSafStore.open({ path: foreign }).catch((e: unknown) => e)).to.be.instanceOf(SafStoreForeign);

    const newer = join(dir, 'newer');
    const env2 = open({ path: newer });
    await env2.put('tcomms.format', 'saf-store');
    await env2.put('tcomms.schema', 7);
    await env2.close();
    const tooNew = await LmdbSafStore.open({ path: newer }).catch((e: unknown) => e);
    expect(tooNew).to.be.instanceOf(SafStoreTooNew);
    expect((tooNew as SafStoreTooNew).version).to.equal(7);
  });

  it('reports a damaged record or totals as SafStoreCorrupt, not a crash', async () => {
    const path = join(dir, 'saf');
    const store = await LmdbSafStore.open({ path });
    const put = await store.put({ destination: key(1), envelope: key(2), sender: key(3), dedupKey: key(4), storedAt: 1, expires: 100, destinationKnown: false });
    expect(put.stored).to.equal(true);
    await store.close();
    const env = open({ path, maxDbs: 12 });
    const id = new Uint8Array(8);
    id[7] = 1;
    await env.openDB({ name: 'saf-messages', keyEncoding: 'binary', encoding: 'binary' }).put(id, new Uint8Array(5));
    await env.close();
    const again = await LmdbSafStore.open({ path });
    expect(await again.remove(key(1), [1]).catch((e: unknown) => e)).to.be.instanceOf(SafStoreCorrupt);
    expect(await again.verify().catch((e: unknown) => e)).to.be.instanceOf(SafStoreCorrupt);
    await again.close();
    const env2 = open({ path, maxDbs: 12 });
    await env2.put('saf.totals', { count: -1 });
    await env2.close();
    expect(await LmdbSafStore.open({ path }).catch((e: unknown) => e)).to.be.instanceOf(SafStoreCorrupt);
  });
});
