/**
 * Strict protobuf decoding, for every message a peer sends (identity, RPC, DHT).
 *
 * protobuf-es's `fromBinary` reads a known field by its declared type whatever wire type it
 * arrived with (a `uint32` sent length-delimited is read as a number), which is not a valid
 * encoding, and throws ordinary Errors on malformed bytes. {@link decodeStrict} first walks the
 * bytes against the schema, checking the wire type of every known field at every depth (nested
 * messages, packed or unpacked numeric lists, map entries, groups), then decodes. Unknown fields
 * are skipped, as proto3 requires. Every failure is a {@link MalformedProtobuf}, which each
 * protocol turns into its own typed error.
 */
import { fromBinary, ScalarType, type DescField, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

/** Nesting deeper than this is refused (bounds the checker's stack). */
export const MAX_PROTOBUF_DEPTH = 64;

/** The bytes are not a valid encoding of the schema (framing, wire types, nesting, UTF-8). */
export class MalformedProtobuf extends Error {
  constructor(
    readonly typeName: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${typeName}: ${detail}`, options);
    this.name = 'MalformedProtobuf';
  }
}

/**
 * Decodes `bytes` as `schema` after checking every known field's wire type; throws
 * {@link MalformedProtobuf}. Bytes fields of the result are views into `bytes` (no copy): copy
 * what outlives it. Unknown fields are not kept.
 */
export function decodeStrict<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  checkWireTypes(schema, bytes);
  try {
    return fromBinary(schema, bytes, { readUnknownFields: false });
  } catch (cause) {
    throw new MalformedProtobuf(schema.typeName, (cause as Error)?.message ?? String(cause), { cause });
  }
}

/**
 * Checks that `bytes` is a well-formed encoding of `schema` as far as framing and wire types go
 * (field values such as invalid UTF-8 are found by decoding). Throws {@link MalformedProtobuf}.
 */
export function checkWireTypes(schema: DescMessage, bytes: Uint8Array): void {
  try {
    walk(schema, bytes, 0);
  } catch (cause) {
    if (cause instanceof MalformedProtobuf) throw cause;
    throw new MalformedProtobuf(schema.typeName, (cause as Error)?.message ?? String(cause), { cause });
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

/** Whether a known field may arrive with `wt`; nested message bytes are checked too (and consumed). */
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
      // Numeric lists may also come packed (length-delimited).
      return wt === scalarWireType(field.scalar) || wt === WireType.LengthDelimited;
    case 'map':
      if (wt !== WireType.LengthDelimited) return false;
      checkMapEntry(field, reader.bytes(), depth + 1);
      return true;
  }
}

function checkNested(message: DescMessage, delimited: boolean, wt: WireType, reader: BinaryReader, depth: number): boolean {
  if (delimited) return wt === WireType.StartGroup;
  if (wt !== WireType.LengthDelimited) return false;
  walk(message, reader.bytes(), depth + 1);
  return true;
}

/** A map entry is a message with the key as field 1 and the value as field 2. */
function checkMapEntry(field: Extract<DescField, { fieldKind: 'map' }>, bytes: Uint8Array, depth: number): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [no, wt] = reader.tag();
    if (no === 2 && field.mapKind === 'message') {
      if (!checkNested(field.message, false, wt, reader, depth)) throw mapEntryError(field, no, wt);
      continue;
    }
    const ok = no === 1 ? wt === scalarWireType(field.mapKey) : no === 2 ? (field.mapKind === 'scalar' ? wt === scalarWireType(field.scalar) : wt === WireType.Varint) : true;
    if (!ok) throw mapEntryError(field, no, wt);
    reader.skip(wt, no);
  }
}

function mapEntryError(field: DescField, no: number, wt: WireType): MalformedProtobuf {
  return new MalformedProtobuf(field.parent.typeName, `map entry field ${no} of ${field.name} has wire type ${wt}`);
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

function walk(schema: DescMessage, bytes: Uint8Array, depth: number): void {
  if (depth > MAX_PROTOBUF_DEPTH) throw new MalformedProtobuf(schema.typeName, `messages nested deeper than ${MAX_PROTOBUF_DEPTH}`);
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [no, wt] = reader.tag();
    const field = fieldsOf(schema).get(no);
    if (field === undefined) {
      reader.skip(wt, no);
      continue;
    }
    const start = reader.pos;
    if (!checkField(field, wt, reader, depth)) throw new MalformedProtobuf(schema.typeName, `field ${field.name} (${no}) has wire type ${wt}`);
    // Nested checks consumed their bytes; everything else is skipped here.
    if (reader.pos === start) reader.skip(wt, no);
    if (reader.pos > reader.len) throw new MalformedProtobuf(schema.typeName, 'premature end');
  }
}
