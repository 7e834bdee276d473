/** Tiny benchmark helpers: medians of several runs, a table with ratios to a baseline, child scripts. */
import { fileURLToPath } from 'node:url';

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Run `fn` `runs` times and return the median of what it returns. */
export async function medianOf(runs: number, fn: () => Promise<number>): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) out.push(await fn());
  return median(out);
}

export interface Row {
  name: string;
  value: number;
}

/** Print rows with their ratio to the row named `baseline`. */
export function table(title: string, unit: string, rows: Row[], baseline: string): void {
  const base = rows.find((r) => r.name === baseline)?.value ?? NaN;
  console.log(`\n${title}`);
  console.log(`| ${'configuration'.padEnd(46)} | ${unit.padStart(14)} | ${'ratio'.padStart(7)} |`);
  console.log(`|${'-'.repeat(48)}|${'-'.repeat(16)}|${'-'.repeat(9)}|`);
  for (const r of rows) {
    console.log(`| ${r.name.padEnd(46)} | ${fmt(r.value).padStart(14)} | ${(r.value / base).toFixed(2).padStart(7)} |`);
  }
  console.log(`(ratio: against "${baseline}", measured in this run)`);
}

function fmt(v: number): string {
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2);
}

/** Runs `op` `total` times with `concurrency` calls in flight; returns completions per second. */
export async function ratePerSecond(concurrency: number, total: number, op: () => Promise<void>): Promise<number> {
  let started = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < total) {
        started++;
        await op();
      }
    }),
  );
  return (total / (performance.now() - t)) * 1000;
}

/**
 * The node arguments that run the benchmark script `name` (a path relative to `from`, written
 * without extension) in a child process: the compiled `.js` beside a compiled caller, or the
 * `.ts` source through tsx beside a source caller. `npm run bench*` runs the compiled code, as
 * users of the package do.
 */
export function scriptArgs(from: string, name: string): string[] {
  const compiled = from.endsWith('.js');
  const path = fileURLToPath(new URL(`${name}.${compiled ? 'js' : 'ts'}`, from));
  return compiled ? [path] : ['--import', 'tsx', path];
}

/**
 * The p50 (us) of `n` round trips after a warm-up tenth: each writes `request`, then reads until
 * as many bytes came back. The stacks' RTT row and its plain TCP echo baseline are both timed
 * by this, so that they are timed the same way.
 */
export async function roundTripP50(n: number, request: Uint8Array, write: (data: Uint8Array) => Promise<void> | void, next: () => Promise<IteratorResult<Uint8Array>>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const written = write(request);
    if (written !== undefined) await written;
    let got = 0;
    while (got < request.length) {
      const r = await next();
      if (r.done === true) throw new Error('the echo closed before the reply');
      got += r.value.length;
    }
    times.push((performance.now() - t) * 1000);
  }
  return median(times.slice(Math.floor(n / 10)));
}
