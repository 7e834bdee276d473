/** One store per LMDB directory per process (`storage/lmdb-claim.ts`). */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbPeerStore, LmdbSafStore, StoreInUse } from '../../storage/index.js';

describe('LMDB directories: one store per directory per process', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'tcomms-claim-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a second open of an open directory is StoreInUse (peer store, SAF store, either order); after close it opens again', async () => {
    const peers = await LmdbPeerStore.open({ path: join(dir, 'a') });
    const err = await LmdbPeerStore.open({ path: join(dir, 'a', '.') }).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(StoreInUse);
    expect((err as StoreInUse).kind).to.equal('storage');
    expect(await LmdbSafStore.open({ path: join(dir, 'a') }).then(() => undefined, (e: unknown) => e)).to.be.instanceOf(StoreInUse);
    await peers.close();
    const again = await LmdbPeerStore.open({ path: join(dir, 'a') });
    await again.close();
    const saf = await LmdbSafStore.open({ path: join(dir, 'b') });
    expect(await LmdbSafStore.open({ path: join(dir, 'b') }).then(() => undefined, (e: unknown) => e)).to.be.instanceOf(StoreInUse);
    await saf.close();
    await (await LmdbSafStore.open({ path: join(dir, 'b') })).close();
  });
});
