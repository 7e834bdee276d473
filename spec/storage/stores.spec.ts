import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbPeerStore } from '../../storage/lmdb-store.js';
import { MemoryPeerStore } from '../../storage/memory-store.js';
import { peerStoreCompliance } from '../compliance/peer-store.js';

peerStoreCompliance('memory', { open: async (limits) => new MemoryPeerStore(limits) });

let dir: string | undefined;
peerStoreCompliance('lmdb', {
  open: async (limits) => {
    dir = mkdtempSync(join(tmpdir(), 'tcomms-peers-'));
    return LmdbPeerStore.open({ path: join(dir, 'peers'), ...limits });
  },
  reopen: async (store, limits) => {
    await store.close();
    return LmdbPeerStore.open({ path: join(dir!, 'peers'), ...limits });
  },
  cleanup: async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  },
});
