/** How the command prints: plain lines, or one JSON object per line with `--json`. */
import { toHex } from '../core/bytes.js';

/** Prints events as text lines or JSON lines. */
export class Output {
  constructor(readonly json: boolean) {}

  /** One event: `text` for people, `fields` (with `event`) for `--json`. */
  event(event: string, fields: Record<string, unknown>, text: string): void {
    if (this.json) process.stdout.write(`${JSON.stringify({ event, ...fields }, (_k, v: unknown) => (v instanceof Uint8Array ? toHex(v) : v))}\n`);
    else process.stdout.write(`${text}\n`);
  }

  /** A line for people only (nothing with `--json`); `make` runs only when the line is printed. */
  line(make: () => string): void {
    if (!this.json) process.stdout.write(`${make()}\n`);
  }
}
