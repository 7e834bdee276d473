/** The liveness line echo (PROTOCOL.md section 7) against a naive reference, in any chunking. */
import type { Prng } from '../../core/prng.js';
import { LineEcho, LivenessLineTooLong, MAX_LIVENESS_LINE } from '../../protocols/liveness/line-echo.js';
import { chunksOf, oracle, typed, type FuzzCase, type FuzzTarget } from '../harness.js';
import { caseFrom, type Seed } from '../mutate.js';
import { concatAll, sameBytes } from './util.js';

function lines(rng: Prng): Seed {
  const parts = Array.from({ length: rng.range(0, 8) }, () => {
    const n = rng.chance(0.2) ? MAX_LIVENESS_LINE : rng.int(MAX_LIVENESS_LINE);
    return concatAll([rng.bytes(n).map((b) => (b === 0x0a ? 0x20 : b)), Uint8Array.of(0x0a)]);
  });
  return { name: `${parts.length} lines`, bytes: concatAll(parts), dictionary: [Uint8Array.of(0x0a), Uint8Array.of(0x0d, 0x0a)] };
}

/** The echo a correct core gives for the whole input, and whether it must end the session. */
function reference(bytes: Uint8Array): { echo: Uint8Array; tooLong: boolean } {
  let start = 0;
  let end = 0;
  for (;;) {
    const lf = bytes.indexOf(0x0a, start);
    if (lf < 0) break;
    if (lf - start > MAX_LIVENESS_LINE) return { echo: bytes.subarray(0, end), tooLong: true };
    start = lf + 1;
    end = start;
  }
  return { echo: bytes.subarray(0, end), tooLong: bytes.length - start > MAX_LIVENESS_LINE };
}

/** The liveness target. */
export const livenessTarget: FuzzTarget = {
  name: 'liveness',
  covers: 'LineEcho: lines of at most 50 bytes echoed, longer ones refused',
  generate(rng) {
    return caseFrom(rng, [lines(rng)], {}, { randomMax: 200 });
  },
  run(c: FuzzCase) {
    const expected = reference(c.bytes);
    const echo = new LineEcho();
    const out: Uint8Array[] = [];
    let tooLong = false;
    for (const chunk of chunksOf(c.bytes, c.cuts)) {
      try {
        out.push(...echo.push(chunk));
      } catch (err) {
        typed(err, [LivenessLineTooLong]);
        tooLong = true;
        break;
      }
    }
    const got = concatAll(out);
    oracle(out.every((l) => l.length <= MAX_LIVENESS_LINE + 1 && l[l.length - 1] === 0x0a), 'an echoed line is too long or not a line');
    oracle(tooLong === expected.tooLong, () => `too long: ${tooLong}, the reference: ${expected.tooLong}`);
    // Lines echoed before the refusal may be fewer (the refusing push's), never others.
    if (tooLong) oracle(got.length <= expected.echo.length && sameBytes(got, expected.echo.subarray(0, got.length)), 'echoed bytes that are not the input lines');
    else oracle(sameBytes(got, expected.echo), 'the echo differs from the reference');
    return tooLong ? 'error:LivenessLineTooLong' : out.length === 0 ? 'nothing' : 'echo';
  },
};
