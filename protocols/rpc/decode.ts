/**
 * Strict protobuf decoding for RPC. protobuf-es reads a known field whatever its wire type
 * (a `uint32` sent length-delimited reads as a number) and throws ordinary Errors on malformed
 * bytes. {@link decodeProtobuf} first checks the wire type of every known field (nested
 * messages included), then decodes, and turns every failure into an {@link RpcProtocolError}.
 * Unknown fields are accepted and ignored, as proto3 requires.
 */
import { fromBinary, ScalarType, type DescField, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { RpcProtocolError } from './errors.js';

/** Nesting deeper than this is refused (bounds the checker's stack). */
const MAX_DEPTH = 64;

/** Decodes `bytes` as `schema`; a malformed encoding is an {@link RpcProtocolError} (`undecodable`). */
export function decodeProtobuf<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  try {
    checkWireTypes(schema, bytes, 0);
    return fromBinary(schema, bytes, { readUnknownFields: false });
  } catch (cause) {
    if (cause instanceof RpcProtocolError) throw cause;
    throw new RpcProtocolError('undecodable', `${schema.typeName}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** The wire type a scalar is written with (unpacked). */
function scalarWireType(scalar: ScalarType): WireType {
  switch (scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

/** Whether a known field may arrive with `wt`; nested message bytes are checked too. */
function checkField(field: DescField, wt: WireType, reader: BinaryReader, depth: number): boolean {
  switch (field.fieldKind) {
    case 'scalar':
      return wt === scalarWireType(field.scalar);
    case 'enum':
      return wt === WireType.Varint;
    case 'message':
      return checkNested(field.message, field.delimitedEncoding, wt, reader, depth);
    case 'list':
      if (field.listKind === 'message') return checkNested(field.message, field.delimitedEncoding, wt, reader, depth);
      if (field.listKind === 'enum') return wt === WireType.Varint || wt === WireType.LengthDelimited;
      {
        const single = scalarWireType(field.scalar);
        // Numeric lists may also come packed (length-delimited).
        return wt === single || wt === WireType.LengthDelimited;
      }
    case 'map':
      if (wt !== WireType.LengthDelimited) return false;
      checkMapEntry(field, reader.bytes(), depth + 1);
      return true;
  }
}

function checkNested(message: DescMessage, delimited: boolean, wt: WireType, reader: BinaryReader, depth: number): boolean {
  if (delimited) return wt === WireType.StartGroup;
  if (wt !== WireType.LengthDelimited) return false;
  checkWireTypes(message, reader.bytes(), depth + 1);
  return true;
}

/** A map entry is a message with the key as field 1 and the value as field 2. */
function checkMapEntry(field: Extract<DescField, { fieldKind: 'map' }>, bytes: Uint8Array, depth: number): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [no, wt] = reader.tag();
    let ok = true;
    if (no === 2 && field.mapKind === 'message') {
      if (!checkNested(field.message, false, wt, reader, depth)) throw mapEntryError(field, no, wt);
      continue;
    }
    if (no === 1) ok = wt === scalarWireType(field.mapKey);
    else if (no === 2) ok = field.mapKind === 'scalar' ? wt === scalarWireType(field.scalar) : wt === WireType.Varint;
    if (!ok) throw mapEntryError(field, no, wt);
    reader.skip(wt, no);
  }
}

function mapEntryError(field: DescField, no: number, wt: WireType): RpcProtocolError {
  return new RpcProtocolError('undecodable', `map entry field ${no} of ${field.parent.typeName}.${field.name} has wire type ${wt}`);
}

/** Each schema's fields by number, built once. */
const byNumber = new WeakMap<DescMessage, Map<number, DescField>>();

function fieldsOf(schema: DescMessage): Map<number, DescField> {
  let map = byNumber.get(schema);
  if (map === undefined) {
    map = new Map(schema.fields.map((f) => [f.number, f]));
    byNumber.set(schema, map);
  }
  return map;
}

function checkWireTypes(schema: DescMessage, bytes: Uint8Array, depth: number): void {
  if (depth > MAX_DEPTH) throw new RpcProtocolError('undecodable', `messages nested deeper than ${MAX_DEPTH}`);
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [no, wt] = reader.tag();
    const field = fieldsOf(schema).get(no);
    if (field === undefined) {
      reader.skip(wt, no);
      continue;
    }
    const start = reader.pos;
    if (!checkField(field, wt, reader, depth)) {
      throw new RpcProtocolError('undecodable', `field ${field.name} (${no}) of ${schema.typeName} has wire type ${wt}`);
    }
    // Nested checks consumed their bytes; everything else is skipped here.
    if (reader.pos === start) reader.skip(wt, no);
  }
}
