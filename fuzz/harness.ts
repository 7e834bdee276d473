/**
 * The fuzz harness: a target turns a seeded generator into one case (bytes, how they are cut
 * into chunks, and a few parameters) and runs it against a core with an oracle. Every case is
 * derived from (seed, target, index) alone, so any one of them can be run again on its own.
 */
import { toHex } from '../core/bytes.js';
import { mixSeed, Prng } from '../core/prng.js';

/** The seed when none is given: fixed, so that two runs of `npm run fuzz` run the same cases. */
export const DEFAULT_SEED = 0x7c0ffee;

/** A case's parameters (role, limits, a driver's seed): plain values, printed with a failure. */
export type Params = Record<string, string | number | boolean>;

/** One fuzz case: the peer's bytes, where they are cut into chunks, and the target's parameters. */
export interface FuzzCase {
  readonly bytes: Uint8Array;
  /** Offsets where `bytes` is split into chunks (ascending, within 1..length-1). */
  readonly cuts: readonly number[];
  readonly params: Params;
  /** How the bytes were made: `random`, `valid` or `mutated` (and from what). */
  readonly origin: string;
}

/** One decoder or state machine under test. */
export interface FuzzTarget {
  readonly name: string;
  /** What the target drives, in a few words. */
  readonly covers: string;
  /** One case, from the generator alone (deterministic). */
  generate(rng: Prng): FuzzCase;
  /** Runs a case; returns its outcome class. Throws {@link OracleViolation} when the core misbehaves. */
  run(c: FuzzCase): string;
}

/** The core broke a promise: threw an untyped error, held too much, decoded differently. */
export class OracleViolation extends Error {
  override readonly name = 'OracleViolation';
}

/** Throws an {@link OracleViolation} unless `condition` holds. */
export function oracle(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new OracleViolation(typeof message === 'string' ? message : message());
}

/** An error class, as `instanceof` takes it. */
export type ErrorClass = abstract new (...args: never[]) => Error;

/** Returns `err` when it is an instance of one of `allowed`; otherwise the oracle fails with it as the cause. */
export function typed<E extends Error>(err: unknown, allowed: ReadonlyArray<ErrorClass>, what = 'the core'): E {
  if (err instanceof OracleViolation) throw err;
  if (allowed.some((c) => err instanceof c)) return err as E;
  const name = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  throw new OracleViolation(`${what} threw ${name} (allowed: ${allowed.map((c) => c.name).join(', ')})`, { cause: err });
}

/** `bytes` cut at `cuts`: views, in order (one view when there is no cut). */
export function chunksOf(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const cut of cuts) {
    out.push(bytes.subarray(at, cut));
    at = cut;
  }
  out.push(bytes.subarray(at));
  return out;
}

/** The generator of case `index` of `target` in a run seeded with `seed`. */
export function caseRng(seed: number, target: string, index: number): Prng {
  return new Prng(mixSeed(seed, target, index));
}

/** Options of {@link runTarget}. */
export interface RunOptions {
  seed: number;
  /** Cases to run, from `from`. */
  cases: number;
  /** The first case's index (to reproduce a failure). */
  from?: number;
  /** A case that takes longer than this (ms) fails as too slow (bounded work per input). */
  slowMs?: number;
  /** Called before each case (a watchdog's heartbeat). */
  onCase?: (index: number) => void;
}

/** The figures of one target's run. */
export interface TargetResult {
  target: string;
  cases: number;
  ms: number;
  /** Cases per outcome class. */
  outcomes: Map<string, number>;
}

/** A case broke the oracle (or ran too long): everything needed to run it again. */
export class FuzzCaseFailed extends Error {
  override readonly name = 'FuzzCaseFailed';
  constructor(
    readonly target: string,
    readonly seed: number,
    readonly index: number,
    readonly fuzzCase: FuzzCase,
    readonly failure: unknown,
  ) {
    super(`${target}: case ${index} (seed ${seed}) failed: ${failure instanceof Error ? failure.message : String(failure)}`, { cause: failure });
  }

  /** A report: the failure, the case (params, origin, chunking, input in hex) and the command that runs it again. */
  describe(): string {
    const c = this.fuzzCase;
    const cause = this.failure instanceof Error ? this.failure : undefined;
    const inner = cause?.cause instanceof Error ? `\n  cause: ${cause.cause.stack ?? cause.cause.message}` : '';
    return [
      this.message,
      `  origin: ${c.origin}`,
      `  params: ${JSON.stringify(c.params)}`,
      `  cuts: [${c.cuts.join(', ')}]`,
      `  input (${c.bytes.length} bytes): ${toHex(c.bytes)}`,
      `  reproduce: FUZZ_SEED=${this.seed} FUZZ_TARGET=${this.target} FUZZ_FROM=${this.index} FUZZ_CASES=1 npm run fuzz${inner}`,
    ].join('\n');
  }
}

/** The case `index` of `target` in a run seeded with `seed` (what {@link runTarget} runs). */
export function caseOf(target: FuzzTarget, seed: number, index: number): FuzzCase {
  return target.generate(caseRng(seed, target.name, index));
}

/** Runs `cases` cases of `target`; throws {@link FuzzCaseFailed} at the first failure. */
export function runTarget(target: FuzzTarget, options: RunOptions): TargetResult {
  const from = options.from ?? 0;
  const slowMs = options.slowMs ?? 2_000;
  const outcomes = new Map<string, number>();
  const start = performance.now();
  for (let index = from; index < from + options.cases; index++) {
    options.onCase?.(index);
    const c = caseOf(target, options.seed, index);
    const t0 = performance.now();
    let outcome: string;
    try {
      outcome = target.run(c);
    } catch (err) {
      throw new FuzzCaseFailed(target.name, options.seed, index, c, err);
    }
    const took = performance.now() - t0;
    if (took > slowMs) throw new FuzzCaseFailed(target.name, options.seed, index, c, new OracleViolation(`the case took ${took.toFixed(0)} ms (bound: ${slowMs} ms)`));
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  return { target: target.name, cases: options.cases, ms: performance.now() - start, outcomes };
}
