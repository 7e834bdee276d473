/**
 * RPC services from protoc-gen-es descriptors (PROTOCOL.md section 8, "Service definitions"):
 * {@link defineRpcService} reads the protocol id and the method numbers from the
 * `tcomms.rpc.protocol` and `tcomms.rpc.method` options and checks them once; the result is the
 * method table the session cores use. {@link RpcClient} and {@link RpcHandlers} are the typed
 * shapes a client proxy and a service implementation take for a given service.
 */
import { create, getOption, hasOption, toBinary, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import { method as methodOption, protocol as protocolOption } from '../../proto/gen/tcomms/rpc/options_pb.js';
import { decodeProtobuf } from './decode.js';
import { RpcServiceInvalid } from './errors.js';
import { MAX_RPC_PROTOCOL_ID_BYTES } from './limits.js';
import type { RpcServerMethod } from './server-io.js';

/** The method shapes of a generated service (what protoc-gen-es puts in `GenService<...>`). */
export type RpcServiceMethods = Record<string, Pick<DescMethod, 'input' | 'output' | 'methodKind'>>;
/** Any generated service descriptor (`export const NodeInfo: GenService<...>`). */
export type AnyRpcService = GenService<RpcServiceMethods>;

/** One method of a service, ready for the session cores. */
export interface RpcMethodDefinition<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> extends RpcServerMethod {
  /** The method number on the wire (`tcomms.rpc.method`). */
  readonly number: number;
  /** The name in the .proto file (`GetInfo`). */
  readonly name: string;
  /** The name protoc-gen-es gives it (`getInfo`): the key in {@link RpcClient} and {@link RpcHandlers}. */
  readonly localName: string;
  readonly kind: 'unary' | 'server_streaming';
  readonly input: I;
  readonly output: O;
  readonly descriptor: DescMethod;
  /** Strict decoding of a request; malformed bytes throw an `RpcProtocolError`. */
  decodeRequest(payload: Uint8Array): MessageShape<I>;
  encodeRequest(request: MessageInitShape<I>): Uint8Array;
  /** Strict decoding of a response or stream item. */
  decodeResponse(payload: Uint8Array): MessageShape<O>;
  encodeResponse(response: MessageInitShape<O>): Uint8Array;
}

/** A checked service: its protocol id and its methods by number and by local name. */
export interface RpcServiceDefinition<S extends AnyRpcService = AnyRpcService> {
  /** The protocol id to negotiate (`tcomms.rpc.protocol`, at most 50 bytes). */
  readonly protocol: string;
  /** The fully qualified service name (`tcomms.info.v1.NodeInfo`). */
  readonly typeName: string;
  readonly service: S;
  /** By method number: the table `RpcServerSession` takes. */
  readonly methods: ReadonlyMap<number, RpcMethodDefinition>;
  /** By local name (`getInfo`). */
  readonly byName: { readonly [K in keyof S['method']]: RpcMethodDefinition<InputOf<S['method'][K]>, OutputOf<S['method'][K]>> };
}

/**
 * Checks a generated service and builds its method table. Throws {@link RpcServiceInvalid}
 * when the protocol id is missing, empty or over 50 bytes, when a method has no number, number
 * 0 or a number another method has, or when a method streams its request.
 */
export function defineRpcService<S extends AnyRpcService>(service: S): RpcServiceDefinition<S> {
  const name = service.typeName;
  if (!hasOption(service, protocolOption)) throw new RpcServiceInvalid(name, 'it has no (tcomms.rpc.protocol) option');
  const protocol = getOption(service, protocolOption);
  const idBytes = Buffer.byteLength(protocol, 'utf8');
  if (idBytes === 0 || idBytes > MAX_RPC_PROTOCOL_ID_BYTES) throw new RpcServiceInvalid(name, `its protocol id is ${idBytes} bytes (1..${MAX_RPC_PROTOCOL_ID_BYTES})`);
  const methods = new Map<number, RpcMethodDefinition>();
  const byName: Record<string, RpcMethodDefinition> = {};
  for (const m of service.methods) {
    if (m.methodKind !== 'unary' && m.methodKind !== 'server_streaming') throw new RpcServiceInvalid(name, `method ${m.name} is ${m.methodKind} (v1 has unary and server-streaming calls only)`);
    if (!hasOption(m, methodOption)) throw new RpcServiceInvalid(name, `method ${m.name} has no (tcomms.rpc.method) option`);
    const number = getOption(m, methodOption);
    if (number === 0) throw new RpcServiceInvalid(name, `method ${m.name} has number 0 (reserved)`);
    const other = methods.get(number);
    if (other !== undefined) throw new RpcServiceInvalid(name, `methods ${other.name} and ${m.name} have the same number ${number}`);
    const definition = methodDefinition(m, number, m.methodKind);
    methods.set(number, definition);
    byName[m.localName] = definition;
  }
  return { protocol, typeName: name, service, methods, byName: byName as RpcServiceDefinition<S>['byName'] };
}

function methodDefinition(m: DescMethod, number: number, kind: 'unary' | 'server_streaming'): RpcMethodDefinition {
  const { input, output } = m;
  return {
    number,
    name: m.name,
    localName: m.localName,
    kind,
    input,
    output,
    descriptor: m,
    decodeRequest: (payload) => decodeProtobuf(input, payload),
    encodeRequest: (request) => toBinary(input, create(input, request)),
    decodeResponse: (payload) => decodeProtobuf(output, payload),
    encodeResponse: (response) => toBinary(output, create(output, response)),
  };
}

// ---- typed shapes ---------------------------------------------------------------------

/** The request schema of a method shape. */
export type InputOf<M> = M extends { input: infer I extends DescMessage } ? I : never;
/** The response schema of a method shape. */
export type OutputOf<M> = M extends { output: infer O extends DescMessage } ? O : never;

/** Per-call options of a client. */
export interface RpcCallOptions {
  /** Aborting cancels the call (section 8: a FIN request). */
  signal?: AbortSignal;
  /** `deadline_ms` (default 120,000; at least 1,000). */
  deadlineMs?: number;
}

/**
 * A typed client of service `S`: one function per method, keyed by its local name. Unary
 * methods resolve with the response; server-streaming methods yield the items.
 */
export type RpcClient<S extends AnyRpcService> = {
  readonly [K in keyof S['method']]: S['method'][K] extends { methodKind: 'unary' }
    ? (request: MessageInitShape<InputOf<S['method'][K]>>, options?: RpcCallOptions) => Promise<MessageShape<OutputOf<S['method'][K]>>>
    : S['method'][K] extends { methodKind: 'server_streaming' }
      ? (request: MessageInitShape<InputOf<S['method'][K]>>, options?: RpcCallOptions) => AsyncIterable<MessageShape<OutputOf<S['method'][K]>>>
      : never;
};

/** The peer a call comes from (a small structural type: the protocols layer knows no channels). */
export interface RpcPeer {
  /** Its Ed25519 public key (32 bytes). */
  readonly publicKey: Uint8Array;
  /** Its NodeId (13 bytes). */
  readonly nodeId: Uint8Array;
}

/** What a handler learns about its call. */
export interface RpcCallContext {
  readonly peer: RpcPeer;
  /** Aborted when the call is cancelled, times out, or the session ends. */
  readonly signal: AbortSignal;
  /**
   * The call's `deadline_ms`, relative (ms): the first frame (and each next stream item) must
   * be ready within it of the previous one, or the server answers Timeout and aborts `signal`.
   */
  readonly deadline: number;
}

/**
 * The implementation of service `S`: one handler per method, keyed by its local name. A unary
 * handler returns (or resolves to) the response; a server-streaming one yields the items. To
 * end a call with another status, throw an `RpcError`; any other throw answers General.
 */
export type RpcHandlers<S extends AnyRpcService> = {
  readonly [K in keyof S['method']]: S['method'][K] extends { methodKind: 'unary' }
    ? (request: MessageShape<InputOf<S['method'][K]>>, context: RpcCallContext) => Promise<MessageInitShape<OutputOf<S['method'][K]>>> | MessageInitShape<OutputOf<S['method'][K]>>
    : S['method'][K] extends { methodKind: 'server_streaming' }
      ? (request: MessageShape<InputOf<S['method'][K]>>, context: RpcCallContext) => AsyncIterable<MessageInitShape<OutputOf<S['method'][K]>>>
      : never;
};
