/**
 * The progress of a memorynet run on standard error (never standard output, whose last line may
 * be the JSON result): a redrawn bar on a terminal, otherwise one line as each step starts and
 * ends (and at each tenth of its items). `silent` writes nothing (the mocha test).
 */

/** Where progress goes. */
export interface ProgressSink {
  /** A step starts: `total` items to go. */
  step(name: string, total: number): void;
  /** `done` of the step's items are done. */
  update(done: number): void;
  /** The step ended; `note` sums it up. */
  end(note: string): void;
}

/** Writes nothing. */
export const silentProgress: ProgressSink = { step: () => undefined, update: () => undefined, end: () => undefined };

const WIDTH = 28;

/** The progress bar on `stream` (redrawn at most every 100 ms when it is a terminal). */
export class ProgressBar implements ProgressSink {
  readonly #out: NodeJS.WriteStream;
  readonly #tty: boolean;
  readonly #t0 = performance.now();
  #name = '';
  #total = 0;
  #done = 0;
  #stepAt = 0;
  #drawnAt = 0;

  constructor(out: NodeJS.WriteStream = process.stderr) {
    this.#out = out;
    this.#tty = out.isTTY === true;
  }

  step(name: string, total: number): void {
    this.#name = name;
    this.#total = total;
    this.#done = 0;
    this.#stepAt = performance.now();
    if (this.#tty) this.#draw();
    else this.#out.write(`[${clock(performance.now() - this.#t0)}] ${name} (${total})...\n`);
  }

  update(done: number): void {
    const before = this.#done;
    this.#done = done;
    if (!this.#tty) {
      // A line at each tenth of a step (a long start-up shows how it goes in a log too).
      const tenth = (n: number) => (this.#total > 0 ? Math.floor((n * 10) / this.#total) : 0);
      if (tenth(done) > tenth(before) && done < this.#total) this.#out.write(`[${clock(performance.now() - this.#t0)}]   ${this.#name}: ${done}/${this.#total}, rss ${(process.memoryUsage.rss() / 2 ** 30).toFixed(2)} GiB\n`);
      return;
    }
    const now = performance.now();
    if (now - this.#drawnAt >= 100 || done >= this.#total) this.#draw();
  }

  end(note: string): void {
    const line = `[${clock(performance.now() - this.#t0)}] ${this.#name}: ${note} (${((performance.now() - this.#stepAt) / 1000).toFixed(1)} s)`;
    this.#out.write(this.#tty ? `\r\x1b[K${line}\n` : `${line}\n`);
  }

  #draw(): void {
    this.#drawnAt = performance.now();
    const f = this.#total > 0 ? Math.min(1, this.#done / this.#total) : 0;
    const filled = Math.round(f * WIDTH);
    const rss = (process.memoryUsage.rss() / 2 ** 30).toFixed(2);
    this.#out.write(`\r\x1b[K[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${(f * 100).toFixed(0).padStart(3)}% ${this.#name} ${this.#done}/${this.#total}  ${clock(performance.now() - this.#t0)}  rss ${rss} GiB`);
  }
}

/** `m:ss` of `ms`. */
function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
