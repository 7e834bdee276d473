/** How the command prints: plain lines, or one JSON object per line with `--json`. */
import { toHex } from '../core/bytes.js';

/** Text queued for standard output, in order. */
let pending = '';
let flushScheduled = false;
/** Past this many characters queued, they are written at once. */
const FLUSH_AT = 64 * 1024;

function flushStdout(): void {
  flushScheduled = false;
  if (pending === '') return;
  const text = pending;
  pending = '';
  process.stdout.write(text);
}

process.once('exit', flushStdout);

/**
 * Writes `text` to standard output in order with every other call, batched: what is queued goes
 * out in one write once the event loop comes round (or at once past 64 KiB, and at exit). A write
 * to a pipe or a file is synchronous and wakes its reader; `tcomms node` writing a line per
 * received message to a pipe spent about a fifth of its time in those writes (profiled), where
 * a batch costs one.
 */
export function writeStdout(text: string): void {
  pending += text;
  if (pending.length >= FLUSH_AT) flushStdout();
  else if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushStdout);
  }
}

/** Prints events as text lines or JSON lines. */
export class Output {
  constructor(readonly json: boolean) {}

  /** One event: `text` for people, `fields` (with `event`) for `--json`. */
  event(event: string, fields: Record<string, unknown>, text: string): void {
    if (this.json) writeStdout(`${JSON.stringify({ event, ...fields }, (_k, v: unknown) => (v instanceof Uint8Array ? toHex(v) : v))}\n`);
    else writeStdout(`${text}\n`);
  }

  /** A line for people only (nothing with `--json`); `make` runs only when the line is printed. */
  line(make: () => string): void {
    if (!this.json) writeStdout(`${make()}\n`);
  }
}
