import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbSafStore } from '../../storage/saf-lmdb-store.js';
import { MemorySafStore } from '../../storage/saf-memory-store.js';
import { safStoreCompliance } from '../compliance/saf-store.js';

safStoreCompliance('memory', { open: async (limits) => new MemorySafStore(limits ? { limits } : {}) });

let dir: string | undefined;
safStoreCompliance('lmdb', {
  open: async (limits) => {
    dir = mkdtempSync(join(tmpdir(), 'tcomms-saf-'));
    return LmdbSafStore.open({ path: join(dir, 'saf'), ...(limits ? { limits } : {}) });
  },
  reopen: async (store, limits) => {
    await store.close();
    return LmdbSafStore.open({ path: join(dir!, 'saf'), ...(limits ? { limits } : {}) });
  },
  cleanup: async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  },
});
