/** yamux frame header (PROTOCOL.md section 3, HashiCorp yamux spec version 0). */

/** Header length in bytes: version, type, flags u16, stream id u32, length u32. */
export const HEADER_LENGTH = 12;
/** The only protocol version. */
export const YAMUX_VERSION = 0;

/** Frame types. */
export const FrameType = { Data: 0, WindowUpdate: 1, Ping: 2, GoAway: 3 } as const;
/** yamux frame types (PROTOCOL.md section 3). */
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Flag bits. */
export const Flag = { SYN: 0x1, ACK: 0x2, FIN: 0x4, RST: 0x8 } as const;
/** Every defined flag bit; any other bit is a protocol violation. */
export const KNOWN_FLAGS = 0xf;

/** GoAway codes. */
export const GoAwayCode = { Normal: 0, ProtocolError: 1, InternalError: 2 } as const;
/** GoAway codes: normal, protocol error, internal error. */
export type GoAwayCode = (typeof GoAwayCode)[keyof typeof GoAwayCode];

/** Initial window per stream and direction (256 KiB, fixed by the spec). */
export const INITIAL_WINDOW = 256 * 1024;
/** Largest value of a u32 field (window sizes may not exceed it). */
export const MAX_U32 = 0xffff_ffff;

/** Write a header into `target` at `offset`. */
export function writeHeader(target: Uint8Array, offset: number, type: number, flags: number, streamId: number, length: number): void {
  target[offset] = YAMUX_VERSION;
  target[offset + 1] = type;
  target[offset + 2] = flags >>> 8;
  target[offset + 3] = flags & 0xff;
  target[offset + 4] = streamId >>> 24;
  target[offset + 5] = (streamId >>> 16) & 0xff;
  target[offset + 6] = (streamId >>> 8) & 0xff;
  target[offset + 7] = streamId & 0xff;
  target[offset + 8] = length >>> 24;
  target[offset + 9] = (length >>> 16) & 0xff;
  target[offset + 10] = (length >>> 8) & 0xff;
  target[offset + 11] = length & 0xff;
}

/** Big-endian u32 at `offset`. */
export function readU32(source: Uint8Array, offset: number): number {
  return ((source[offset]! << 24) | (source[offset + 1]! << 16) | (source[offset + 2]! << 8) | source[offset + 3]!) >>> 0;
}
