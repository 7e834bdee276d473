/** Measurements of a memorynet run: distributions, histograms, the RSS sampler. */

/** A distribution's summary. */
export interface Distribution {
  count: number;
  min: number;
  p50: number;
  p95: number;
  max: number;
  mean: number;
}

/** The `p` quantile (0..1) of sorted `values` (nearest rank). */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** The summary of `values` (NaN fields when empty). */
export function distribution(values: readonly number[]): Distribution {
  const s = [...values].sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  return { count: s.length, min: s[0] ?? NaN, p50: quantile(s, 0.5), p95: quantile(s, 0.95), max: s[s.length - 1] ?? NaN, mean: s.length === 0 ? NaN : sum / s.length };
}

/** A histogram bucket: values in [from, to). */
export interface Bucket {
  from: number;
  to: number;
  count: number;
}

/** `values` in `buckets` equal buckets from 0 (or the minimum, if negative) to the maximum. */
export function histogram(values: readonly number[], buckets: number): Bucket[] {
  if (values.length === 0) return [];
  const lo = Math.min(0, ...values);
  const hi = Math.max(...values);
  const width = hi > lo ? (hi - lo) / buckets : 1;
  const out = Array.from({ length: buckets }, (_, i) => ({ from: lo + i * width, to: lo + (i + 1) * width, count: 0 }));
  for (const v of values) out[Math.min(buckets - 1, Math.floor((v - lo) / width))]!.count++;
  return out;
}

/** Counts of each integer value (connections or peers per node), from the minimum to the maximum. */
export function counts(values: readonly number[]): Array<{ value: number; count: number }> {
  if (values.length === 0) return [];
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const out = Array.from({ length: hi - lo + 1 }, (_, i) => ({ value: lo + i, count: 0 }));
  for (const v of values) out[v - lo]!.count++;
  return out;
}

/** Samples the process's resident set size while a run lasts; `peak` also asks the OS for its own maximum. */
export class RssSampler {
  #peak = 0;
  readonly #timer: NodeJS.Timeout;
  readonly samples: Array<{ atMs: number; rssBytes: number }> = [];
  readonly #t0 = performance.now();

  constructor(periodMs = 500) {
    this.sample();
    this.#timer = setInterval(() => this.sample(), periodMs);
    this.#timer.unref();
  }

  /** Takes one sample now (also called at each step's end). */
  sample(): number {
    const rss = process.memoryUsage.rss();
    this.#peak = Math.max(this.#peak, rss);
    this.samples.push({ atMs: performance.now() - this.#t0, rssBytes: rss });
    return rss;
  }

  /** The largest RSS seen: sampled, or the OS's maximum for the process (`getrusage`), whichever is larger. */
  get peakBytes(): number {
    return Math.max(this.#peak, process.resourceUsage().maxRSS * 1024);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.sample();
  }
}
