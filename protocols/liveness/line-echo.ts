/**
 * Liveness mode (PROTOCOL.md section 7), sans-I/O: `\n`-terminated lines of at most 50 bytes
 * (the `\n` excluded) are echoed back as the same bytes plus `\n`. A longer line ends the session.
 */
import { ProtocolError } from '../../core/errors.js';

/** Longest line echoed in liveness mode; longer ends the session. */
export const MAX_LIVENESS_LINE = 50;
const LF = 0x0a;

/** A line longer than the limit. */
export class LivenessLineTooLong extends ProtocolError {
  constructor() {
    super(`a liveness line is longer than ${MAX_LIVENESS_LINE} bytes`);
  }
}

/** The liveness-mode core (section 7): splits input into lines and says what to echo. */
export class LineEcho {
  #partial = new Uint8Array(0);

  /** Feeds bytes; returns what to write back (complete lines with their `\n`). */
  push(bytes: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let data = this.#partial.length === 0 ? bytes : concat2(this.#partial, bytes);
    for (;;) {
      const lf = data.indexOf(LF);
      if (lf < 0) break;
      if (lf > MAX_LIVENESS_LINE) throw new LivenessLineTooLong();
      out.push(data.slice(0, lf + 1));
      data = data.subarray(lf + 1);
    }
    if (data.length > MAX_LIVENESS_LINE) throw new LivenessLineTooLong();
    this.#partial = data.slice();
    return out;
  }
}

function concat2(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
