/**
 * A deliberately naive yamux codec, the oracle for the session core: whole buffers in, frame
 * objects out, with DataView and no state. Written from the spec, not from the core.
 */
export interface RefFrame {
  version: number;
  type: number;
  flags: number;
  streamId: number;
  length: number;
  data?: Uint8Array;
}

export function refEncode(frames: RefFrame[]): Uint8Array {
  const size = frames.reduce((n, f) => n + 12 + (f.type === 0 ? (f.data?.length ?? 0) : 0), 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let off = 0;
  for (const f of frames) {
    view.setUint8(off, f.version);
    view.setUint8(off + 1, f.type);
    view.setUint16(off + 2, f.flags);
    view.setUint32(off + 4, f.streamId);
    view.setUint32(off + 8, f.type === 0 && f.data !== undefined ? f.data.length : f.length);
    off += 12;
    if (f.type === 0 && f.data) {
      out.set(f.data, off);
      off += f.data.length;
    }
  }
  return out;
}

/** Decode a complete byte string into frames (throws if it ends mid-frame). */
export function refDecode(bytes: Uint8Array): RefFrame[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: RefFrame[] = [];
  let off = 0;
  while (off < bytes.length) {
    if (bytes.length - off < 12) throw new Error('truncated header');
    const f: RefFrame = { version: view.getUint8(off), type: view.getUint8(off + 1), flags: view.getUint16(off + 2), streamId: view.getUint32(off + 4), length: view.getUint32(off + 8) };
    off += 12;
    if (f.type === 0) {
      if (bytes.length - off < f.length) throw new Error('truncated data');
      f.data = bytes.slice(off, off + f.length);
      off += f.length;
    }
    frames.push(f);
  }
  return frames;
}
