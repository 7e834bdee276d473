/**
 * The RPC services a node serves (PROTOCOL.md section 8): protocol id -> the checked service
 * definition and its handlers. Like the node's `ProtocolRegistry`, it is shared and may change
 * while the node runs; the RPC server reads it when a session asks to be admitted (an id with no
 * service behind it is answered PROTOCOL_NOT_SUPPORTED).
 */
import { ConfigError } from '../../core/errors.js';
import { defineRpcService, type AnyRpcService, type RpcCallContext, type RpcHandlers, type RpcMethodDefinition, type RpcServiceDefinition } from '../../protocols/rpc/index.js';

/** A handler as the session runs it: the typed shapes of `RpcHandlers` erased to one signature. */
export type AnyRpcHandler = (request: unknown, context: RpcCallContext) => unknown;

/** One service served: its definition and its handlers by method number. */
export interface ServedRpcService {
  readonly definition: RpcServiceDefinition;
  /** The handler of each method, by method number (every method has one). */
  readonly handlers: ReadonlyMap<number, AnyRpcHandler>;
}

const definitions = new WeakMap<AnyRpcService, RpcServiceDefinition>();

/** The checked definition of a generated service, made once per descriptor (`defineRpcService`). */
export function rpcServiceDefinition<S extends AnyRpcService>(service: S): RpcServiceDefinition<S> {
  let d = definitions.get(service);
  if (!d) definitions.set(service, (d = defineRpcService(service)));
  return d as RpcServiceDefinition<S>;
}

/**
 * A service with its implementation. Throws `ConfigError` when a method has no handler or a
 * handler is not a function (the types already say so; this is for JavaScript callers).
 */
export function servedRpcService<S extends AnyRpcService>(service: S, handlers: RpcHandlers<S>): ServedRpcService {
  const definition = rpcServiceDefinition(service);
  const byNumber = new Map<number, AnyRpcHandler>();
  const given = handlers as unknown as Record<string, unknown>;
  for (const m of definition.methods.values() as Iterable<RpcMethodDefinition>) {
    const h = given[m.localName];
    if (typeof h !== 'function') throw new ConfigError(`rpc service ${definition.typeName}: no handler for ${m.localName}`);
    byNumber.set(m.number, h as AnyRpcHandler);
  }
  for (const name of Object.keys(given)) {
    if (![...definition.methods.values()].some((m) => m.localName === name)) throw new ConfigError(`rpc service ${definition.typeName} has no method ${name}`);
  }
  return { definition, handlers: byNumber };
}

/** Protocol id -> the service served behind it. */
export class RpcServiceTable {
  readonly #services = new Map<string, ServedRpcService>();

  /** Adds a service; throws `ConfigError` when its protocol id is taken. */
  add(served: ServedRpcService): this {
    const id = served.definition.protocol;
    if (this.#services.has(id)) throw new ConfigError(`an rpc service is already served at ${id}`);
    this.#services.set(id, served);
    return this;
  }

  /** Removes the service at `protocol`; sessions opened for it from now on are refused. */
  remove(protocol: string): boolean {
    return this.#services.delete(protocol);
  }

  get(protocol: string): ServedRpcService | undefined {
    return this.#services.get(protocol);
  }

  has(protocol: string): boolean {
    return this.#services.has(protocol);
  }

  /** The protocol ids served. */
  ids(): string[] {
    return [...this.#services.keys()];
  }
}
