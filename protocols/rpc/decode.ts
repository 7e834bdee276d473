/**
 * Strict protobuf decoding for RPC (`protocols/protobuf/strict.ts`), with every failure an
 * {@link RpcProtocolError} (`undecodable`).
 */
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import { decodeStrict } from '../protobuf/index.js';
import { RpcProtocolError } from './errors.js';

/** Decodes `bytes` as `schema`; a malformed encoding is an {@link RpcProtocolError} (`undecodable`). */
export function decodeProtobuf<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  try {
    return decodeStrict(schema, bytes);
  } catch (cause) {
    throw new RpcProtocolError('undecodable', (cause as Error)?.message ?? String(cause), { cause });
  }
}
