/**
 * Where crypto tasks run: {@link InlineExecutor} on the calling thread, {@link PoolExecutor} on
 * a Piscina worker pool. Both implement {@link TaskExecutor} over the same typed task map.
 */
import { Piscina } from 'piscina';
import { availableParallelism } from 'node:os';
import { AbortedError } from '../core/errors.js';
import { errorFromReply, runTask, transferablesOf, type TaskInput, type TaskName, type TaskOutput, type TaskReply } from './tasks.js';

/** Runs typed tasks somewhere. */
export interface TaskExecutor {
  /** `inline` or `pool`. */
  readonly kind: 'inline' | 'pool';
  /** Threads that run tasks besides the caller's (0 for the in-thread executor). */
  readonly threads: number;
  run<K extends TaskName>(name: K, input: TaskInput<K>): Promise<TaskOutput<K>>;
  /** Stop accepting tasks and release threads. */
  close(): Promise<void>;
}

/** Runs every task synchronously on the calling thread (results still come as promises). */
export class InlineExecutor implements TaskExecutor {
  readonly kind = 'inline' as const;
  readonly threads = 0;
  #closed = false;

  async run<K extends TaskName>(name: K, input: TaskInput<K>): Promise<TaskOutput<K>> {
    if (this.#closed) throw new AbortedError('executor is closed');
    return unwrap(await runTask({ name, input }));
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** Options of a worker pool. */
export interface PoolExecutorInit {
  /** Worker threads (default: available parallelism, at least 1). */
  threads?: number;
  /** Tasks queued beyond the running ones before `run` rejects (default 4096). */
  maxQueue?: number;
}

/**
 * Picks the worker file next to this module: `worker.ts` under tsx (whose loader compiles it
 * for `require`), and from `dist/` the CommonJS entry `worker-entry.cjs`, which imports
 * `worker.js` (see that file for why Piscina is not given the ES module itself).
 */
function workerFilename(): string {
  const file = import.meta.url.endsWith('.ts') ? 'worker.ts' : 'worker-entry.cjs';
  return new URL(`./${file}`, import.meta.url).href;
}

/** Runs tasks on a Piscina pool; tasks run concurrently on several threads. */
export class PoolExecutor implements TaskExecutor {
  readonly kind = 'pool' as const;
  readonly #pool: Piscina;
  readonly #threads: number;
  #closed = false;

  constructor(init: PoolExecutorInit = {}) {
    const threads = Math.max(1, init.threads ?? availableParallelism());
    this.#threads = threads;
    this.#pool = new Piscina({
      filename: workerFilename(),
      minThreads: threads,
      maxThreads: threads,
      maxQueue: init.maxQueue ?? 4096,
      // Workers need the same TypeScript loader as this thread when running from source.
      execArgv: import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : [],
    });
  }

  /** Number of worker threads (as configured; Piscina starts them in the background). */
  get threads(): number {
    return this.#threads;
  }

  async run<K extends TaskName>(name: K, input: TaskInput<K>): Promise<TaskOutput<K>> {
    // Piscina would start new threads for a task after destroy(); a closed executor refuses.
    if (this.#closed) throw new AbortedError('executor is closed');
    const request = { name, input };
    const reply = (await this.#pool.run(request, { transferList: transferablesOf(request) })) as TaskReply<K>;
    return unwrap(reply);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#pool.destroy();
  }
}

function unwrap<K extends TaskName>(reply: TaskReply<K>): TaskOutput<K> {
  if (reply.ok) return reply.output;
  throw errorFromReply(reply.error);
}
