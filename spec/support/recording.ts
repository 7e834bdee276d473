/** Records every byte written to a Duplex (for comparing wire bytes with vectors). */
import type { Duplex } from 'node:stream';

export function recordWrites(stream: Duplex): () => string {
  const chunks: Buffer[] = [];
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  (stream as { write: unknown }).write = (chunk: Uint8Array, ...rest: unknown[]) => {
    chunks.push(Buffer.from(chunk));
    return write(chunk, ...rest);
  };
  return () => Buffer.concat(chunks).toString('hex');
}
