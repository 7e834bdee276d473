/**
 * The `SealedMessage` of PROTOCOL.md 9.3, encoded canonically straight into the padded
 * plaintext (the inner body is copied once). The bytes equal protobuf-es's `toBinary` of
 * `SealedMessageSchema` (tested), which receivers decode.
 */
import { varintLength, writeVarint } from './varint.js';

/** The fields of a SealedMessage; both origin fields absent (or empty) means anonymous. */
export interface SealedFields {
  /** 32 bytes, or absent (anonymous). */
  originPublicKey?: Uint8Array;
  /** By the origin over binding(inner_body); absent iff anonymous. */
  originSignature?: Uint8Array;
  innerBody: Uint8Array;
}

/** Length of a bytes field with its tag and length; 0 for an empty one (proto3 omits defaults). */
function fieldLength(value: Uint8Array | undefined): number {
  return value === undefined || value.length === 0 ? 0 : 1 + varintLength(value.length) + value.length;
}

/** The length n of the canonical encoding. */
export function sealedMessageLength(f: SealedFields): number {
  return fieldLength(f.originPublicKey) + fieldLength(f.originSignature) + fieldLength(f.innerBody);
}

function writeField(out: Uint8Array, offset: number, tag: number, value: Uint8Array | undefined): number {
  if (value === undefined || value.length === 0) return offset;
  out[offset] = tag;
  offset = writeVarint(out, offset + 1, value.length);
  out.set(value, offset);
  return offset + value.length;
}

/** Writes the canonical encoding at `offset` (the caller sized `out`); returns the end offset. */
export function writeSealedMessage(f: SealedFields, out: Uint8Array, offset: number): number {
  offset = writeField(out, offset, 0x0a, f.originPublicKey);
  offset = writeField(out, offset, 0x12, f.originSignature);
  return writeField(out, offset, 0x1a, f.innerBody);
}

/** The canonical encoding of a SealedMessage. */
export function encodeSealedMessage(f: SealedFields): Uint8Array {
  const out = new Uint8Array(sealedMessageLength(f));
  writeSealedMessage(f, out, 0);
  return out;
}
