/** Stream and byte helpers shared by the specs. */
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';

/** Split `bytes` at the given cut points (any chunking, for "decodes the same" properties). */
export function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let last = 0;
  for (const p of points) {
    out.push(bytes.subarray(last, p));
    last = p;
  }
  out.push(bytes.subarray(last));
  return out;
}

/** Everything a stream delivers until its end; rejects on the stream's error. */
export function collect(stream: Duplex): Promise<Buffer> {
  const parts: Buffer[] = [];
  stream.on('data', (d: Buffer) => parts.push(d));
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve(Buffer.concat(parts)));
    stream.once('error', reject);
  });
}

/** SHA-256 as hex, to compare large payloads. */
export function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
