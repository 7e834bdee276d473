/**
 * `npm run fuzz`: every target with FUZZ_CASES cases (default 100,000) from FUZZ_SEED (default
 * a fixed seed, printed), or only FUZZ_TARGET (names, comma-separated), from case FUZZ_FROM.
 * Prints per target the cases, the time, cases per second and the outcome classes seen; stops at
 * the first failure with the case's seed, index and input, and the command that runs it again.
 * A watchdog thread ends the process when one case runs for FUZZ_HANG_MS (default 30 s).
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { caseOf, DEFAULT_SEED, FuzzCaseFailed, runTarget, type FuzzTarget } from './harness.js';
import { TARGETS } from './targets/index.js';
import { toHex } from '../core/bytes.js';

function numberFrom(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return value;
}

const cases = numberFrom('FUZZ_CASES', 100_000);
const seed = numberFrom('FUZZ_SEED', DEFAULT_SEED) >>> 0;
const from = numberFrom('FUZZ_FROM', 0);
const slowMs = numberFrom('FUZZ_SLOW_MS', 5_000);
const hangMs = numberFrom('FUZZ_HANG_MS', 30_000);
const only = process.env.FUZZ_TARGET?.split(',').filter((n) => n !== '');
const verbose = process.env.FUZZ_FROM !== undefined;

const selected: readonly FuzzTarget[] = only === undefined ? TARGETS : only.map((name) => TARGETS.find((t) => t.name === name) ?? fail(`no target ${name} (targets: ${TARGETS.map((t) => t.name).join(', ')})`));

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

// The watchdog: a thread that reads the current target and case from shared memory and, when
// one case runs too long (a hang: the main thread is stuck, so only this thread can speak),
// writes how to run it again straight to stderr and kills the process.
const progress = new Int32Array(new SharedArrayBuffer(12));
const watchdog = new Worker(
  `
  const { workerData } = require('node:worker_threads');
  const { writeSync } = require('node:fs');
  const { progress, hangMs, seed, names } = workerData;
  let last = -1, lastTarget = -1, since = Date.now();
  setInterval(() => {
    const beat = Atomics.load(progress, 2);
    if (beat !== last) { last = beat; since = Date.now(); return; }
    if (Atomics.load(progress, 0) < 0 || Date.now() - since < hangMs) return;
    const target = names[Atomics.load(progress, 0)], index = Atomics.load(progress, 1);
    writeSync(2, '\\nFUZZ HANG: ' + target + ' case ' + index + ' (seed ' + seed + ') ran for more than ' + hangMs + ' ms\\n' +
      '  reproduce (prints the input first): FUZZ_SEED=' + seed + ' FUZZ_TARGET=' + target + ' FUZZ_FROM=' + index + ' FUZZ_CASES=1 npm run fuzz\\n');
    process.kill(process.pid, 'SIGKILL');
  }, 250);
  `,
  { eval: true, workerData: { progress, hangMs, seed, names: selected.map((t) => t.name) } },
);
Atomics.store(progress, 0, -1);
await once(watchdog, 'online');
watchdog.unref();

console.log(`fuzz: seed ${seed} (FUZZ_SEED), ${cases} cases per target (FUZZ_CASES), from case ${from}`);
console.log(`${'target'.padEnd(16)} ${'cases'.padStart(8)} ${'time s'.padStart(8)} ${'cases/s'.padStart(9)} ${'classes'.padStart(7)}  outcome classes (cases)`);
let beat = 0;
let total = 0;
for (const [t, target] of selected.entries()) {
  Atomics.store(progress, 0, t);
  try {
    const result = runTarget(target, {
      seed,
      cases,
      from,
      slowMs,
      onCase: (index) => {
        Atomics.store(progress, 1, index);
        Atomics.store(progress, 2, ++beat);
        if (verbose) {
          const c = caseOf(target, seed, index);
          console.log(`case ${index}: origin ${c.origin}, params ${JSON.stringify(c.params)}, cuts [${c.cuts.join(', ')}]\n  input (${c.bytes.length} bytes): ${toHex(c.bytes)}`);
        }
      },
    });
    total += result.ms;
    const classes = [...result.outcomes.entries()].sort((a, b) => b[1] - a[1]);
    const rate = result.cases / (result.ms / 1000);
    console.log(
      `${target.name.padEnd(16)} ${String(result.cases).padStart(8)} ${(result.ms / 1000).toFixed(1).padStart(8)} ${rate.toFixed(0).padStart(9)} ${String(classes.length).padStart(7)}  ${classes.map(([k, v]) => `${k} (${v})`).join(', ')}`,
    );
  } catch (err) {
    Atomics.store(progress, 0, -1);
    if (err instanceof FuzzCaseFailed) {
      console.error(`\nFUZZ FAILURE\n${err.describe()}`);
      process.exit(1);
    }
    throw err;
  }
}
Atomics.store(progress, 0, -1);
console.log(`all ${selected.length} targets passed in ${(total / 1000).toFixed(1)} s`);
await watchdog.terminate();
