/**
 * One worker pool per process for the nodes that do not bring their own: a process running
 * hundreds of nodes (a simulation, a test, a benchmark with a node per client) must not start
 * a thread per node. Reference-counted: the first node to start makes it (one thread, what the
 * {@link X25519Service} holds), the last to stop closes it and every service on it.
 */
import { PoolExecutor } from './executor.js';
import { X25519Service } from './x25519-service.js';

let shared: { pool: PoolExecutor; users: number } | undefined;

/** The process's shared pool (made on first use); pair every call with {@link releaseSharedPool}. */
export function acquireSharedPool(): PoolExecutor {
  shared ??= { pool: new PoolExecutor({ threads: 1 }), users: 0 };
  shared.users++;
  return shared.pool;
}

/** One user of the shared pool is done; the last one closes it (and its X25519 services). */
export async function releaseSharedPool(pool: PoolExecutor): Promise<void> {
  if (shared === undefined || shared.pool !== pool) return;
  if (--shared.users > 0) return;
  shared = undefined;
  X25519Service.closeAll(pool);
  await pool.close();
}

/** Users of the shared pool now (0 when there is none). */
export function sharedPoolUsers(): number {
  return shared?.users ?? 0;
}
