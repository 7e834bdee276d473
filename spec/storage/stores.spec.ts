import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbPeerStore } from '../../storage/lmdb-store.js';
import { MemoryPeerStore } from '../../storage/memory-store.js';
import { peerStoreCompliance } from '../compliance/peer-store.js';

peerStoreCompliance('memory', { open: async () => new MemoryPeerStore() });

let dir: string | undefined;
peerStoreCompliance('lmdb', {
  open: async () => {
    dir = mkdtempSync(join(tmpdir(), 'tcomms-peers-'));
    return LmdbPeerStore.open({ path: join(dir, 'peers') });
  },
  reopen: async (store) => {
    await store.close();
    return LmdbPeerStore.open({ path: join(dir!, 'peers') });
  },
  cleanup: async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  },
});
