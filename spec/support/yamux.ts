/** Hand-made yamux frames for specs that play a peer (PROTOCOL.md section 3). */
import { HEADER_LENGTH, writeHeader } from '../../protocols/yamux/index.js';

/** One frame: a 12-byte header with `length`, then `payload` when given (a header alone may announce data not sent). */
export function yamuxFrame(type: number, flags: number, id: number, length: number, payload?: Uint8Array): Buffer {
  const out = Buffer.alloc(HEADER_LENGTH + (payload?.length ?? 0));
  writeHeader(out, 0, type, flags, id, length);
  if (payload) out.set(payload, HEADER_LENGTH);
  return out;
}
