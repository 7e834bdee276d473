/**
 * The protocols this node serves on substreams the peer opens: protocol id -> handler. The ids
 * are what the identity message advertises (`supported_protocols`, PROTOCOL.md section 5), so
 * the same limits apply: at most 20 ids of at most 50 bytes, never the identity protocol.
 */
import type { MemoryBudget } from '../core/budget.js';
import { ConfigError } from '../core/errors.js';
import { MAX_PROTOCOL_ID_BYTES, MAX_PROTOCOLS, type ValidatedIdentity } from '../protocols/identity/index.js';
import type { YamuxStream } from './yamux/stream.js';

/** The identity protocol id, reserved for the upgrade. */
const RESERVED = '/tari/identity/1.0.0';

/** What a handler is told about a substream besides the stream itself. */
export interface SubstreamContext {
  /** The negotiated protocol id. */
  protocol: string;
  /** The peer's checked identity. */
  peer: ValidatedIdentity;
  /**
   * The connection's memory budget: what the handler holds for the peer (partial frames,
   * messages not yet delivered) is charged to it, so that the connection stops being read
   * while it is over (undefined when the stream is not on a connection, as in some tests).
   */
  memory?: MemoryBudget;
  /**
   * The connection the substream arrived on, as a token: a peer's substreams on one connection
   * share it (undefined when the stream is not on a connection, as in some tests).
   */
  connection?: object;
}

/**
 * Serves one inbound substream. The handler owns the stream: it reads, writes and ends it. A
 * thrown error or rejected promise resets the stream; the connection stays up.
 */
export type ProtocolHandler = (stream: YamuxStream, context: SubstreamContext) => void | Promise<void>;

/** Protocol id -> handler, in registration order (the order advertised). */
export class ProtocolRegistry {
  readonly #handlers = new Map<string, ProtocolHandler>();

  /** Adds a protocol; throws `ConfigError` on a bad or duplicate id or beyond 20 protocols. */
  register(protocol: string, handler: ProtocolHandler): this {
    const bytes = Buffer.byteLength(protocol, 'utf8');
    if (bytes === 0 || bytes > MAX_PROTOCOL_ID_BYTES) throw new ConfigError(`protocol id "${protocol}" must be 1..${MAX_PROTOCOL_ID_BYTES} bytes`);
    if (protocol === RESERVED) throw new ConfigError(`${RESERVED} is reserved for the identity exchange`);
    if (this.#handlers.has(protocol)) throw new ConfigError(`protocol ${protocol} is already registered`);
    if (this.#handlers.size >= MAX_PROTOCOLS) throw new ConfigError(`at most ${MAX_PROTOCOLS} protocols can be registered`);
    if (typeof handler !== 'function') throw new ConfigError(`the handler of ${protocol} is not a function`);
    this.#handlers.set(protocol, handler);
    return this;
  }

  /** Removes a protocol; new substreams for it are refused from now on. */
  unregister(protocol: string): boolean {
    return this.#handlers.delete(protocol);
  }

  has(protocol: string): boolean {
    return this.#handlers.has(protocol);
  }

  get(protocol: string): ProtocolHandler | undefined {
    return this.#handlers.get(protocol);
  }

  /** The registered ids, in registration order (advertised in the identity message). */
  ids(): string[] {
    return [...this.#handlers.keys()];
  }
}
