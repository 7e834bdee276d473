/**
 * RPC test support (PROTOCOL.md section 8): the Bench service with handlers a test can swap,
 * nodes serving it, and hand-written peers that speak section 8 frame by frame over a real
 * substream: a raw client against a node's server, and a raw server for a node's client.
 */
import { multiaddr } from '@multiformats/multiaddr';
import { create, toBinary } from '@bufbuild/protobuf';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import { negotiateInbound } from '../../channels/negotiate.js';
import { PeerConnection, upgradeInbound, upgradeOutbound, type UpgradeConfig } from '../../channels/upgrade.js';
import { NodeIdentity } from '../../core/keys.js';
import { CommsBuilder, type CommsNode } from '../../node/index.js';
import { Bench, PayloadSchema, type Payload, type StreamRequest } from '../../proto/gen/tcomms/bench/v1/bench_pb.js';
import {
  RpcFrameDecoder,
  decodeRpcRequest,
  decodeRpcResponse,
  decodeRpcSession,
  decodeRpcSessionReply,
  encodeRpcFrame,
  encodeRpcSession,
  encodeRpcSessionReply,
  rpcRequestFrame,
  rpcResponseFrame,
  type HandshakeRejectReason,
  type RpcCallContext,
  type RpcHandlers,
  type RpcRequest,
  type RpcRequestFields,
  type RpcResponse,
  type RpcResponseFields,
  type RpcSessionReply,
} from '../../protocols/rpc/index.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import { testNode } from './nodes.js';

export { Bench };
export const BENCH = '/tcomms/bench/1';
export const ECHO = 1;
export const STREAM = 2;

/** The Bench handlers a test swaps (`service.echo = ...`); the defaults echo and stream. */
export class BenchService {
  echo: (request: Payload, context: RpcCallContext) => MessageInitShape<typeof PayloadSchema> | Promise<MessageInitShape<typeof PayloadSchema>> = (r) => ({ data: r.data });
  stream: (request: StreamRequest, context: RpcCallContext) => AsyncIterable<MessageInitShape<typeof PayloadSchema>> = async function* (r) {
    const item = new Uint8Array(r.size);
    for (let i = 0; i < r.count; i++) yield { data: item };
  };
  /** Calls started, by method. */
  readonly started = { echo: 0, stream: 0 };
  /** Contexts of the calls (their signals tell whether the handler was stopped). */
  readonly contexts: RpcCallContext[] = [];

  readonly handlers: RpcHandlers<typeof Bench> = {
    echo: (request, context) => {
      this.started.echo++;
      this.contexts.push(context);
      return this.echo(request, context);
    },
    stream: (request, context) => {
      this.started.stream++;
      this.contexts.push(context);
      return this.stream(request, context);
    },
  };
}

/** A node builder on the memory network, with short timeouts and one dial round. */
export function memoryNode(network: MemoryNetwork, name: string, configure: (b: CommsBuilder) => CommsBuilder = (b) => b, identity = NodeIdentity.generate()): CommsNode {
  const builder = new CommsBuilder()
    .withNodeIdentity(identity)
    .withUserAgent(name)
    .withTransport(new MemoryTransport({ network }))
    .withListenAddress('/memory/0')
    .withDialPolicy({ rounds: 1 })
    .withTimeouts({ timeToFirstByteMs: 2_000, handshakeRecvMs: 2_000, identityMs: 2_000, dialAttemptMs: 5_000 });
  return configure(builder).build();
}

/** Bytes of an encoded Bench payload. */
export const payloadBytes = (data: Uint8Array) => toBinary(PayloadSchema, create(PayloadSchema, { data }));

/** A frame read from a raw peer's substream, or how the substream ended. */
export type RawEvent = { kind: 'frame'; protobuf: Uint8Array } | { kind: 'fin' } | { kind: 'reset'; error: Error | undefined };

/** One substream driven by hand: frames written and read one by one. */
export class RawSubstream {
  readonly #decoder = new RpcFrameDecoder();
  readonly #events: RawEvent[] = [];
  #waiter: ((e: RawEvent) => void) | undefined;
  #over = false;

  constructor(readonly stream: YamuxStream) {
    stream.on('data', (chunk: Uint8Array) => {
      try {
        for (const f of this.#decoder.decode(chunk)) this.#push({ kind: 'frame', protobuf: f });
      } catch (err) {
        this.#push({ kind: 'reset', error: err as Error });
      }
    });
    stream.on('end', () => this.#push({ kind: 'fin' }));
    stream.on('error', (err) => this.#push({ kind: 'reset', error: err }));
    stream.on('close', () => {
      if (!stream.readableEnded) this.#push({ kind: 'reset', error: undefined });
    });
  }

  #push(e: RawEvent): void {
    if (this.#over) return;
    if (e.kind !== 'frame') this.#over = true;
    const w = this.#waiter;
    this.#waiter = undefined;
    if (w) w(e);
    else this.#events.push(e);
  }

  /** The next frame, FIN or reset (rejects after `ms`). */
  next(ms = 5_000): Promise<RawEvent> {
    const e = this.#events.shift();
    if (e) return Promise.resolve(e);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(new Error(`nothing arrived on the raw substream within ${ms} ms`));
      }, ms);
      this.#waiter = (ev) => {
        clearTimeout(timer);
        resolve(ev);
      };
    });
  }

  /** True when nothing arrived (no frame, no end) within `ms` (for "the server ignores it"). */
  async quiet(ms: number): Promise<boolean> {
    try {
      await this.next(ms);
      return false;
    } catch {
      return true;
    }
  }

  async frame(ms?: number): Promise<Uint8Array> {
    const e = await this.next(ms);
    if (e.kind !== 'frame') throw new Error(`expected a frame, got ${e.kind}${e.kind === 'reset' && e.error ? ` (${e.error.message})` : ''}`);
    return e.protobuf;
  }

  async response(ms?: number): Promise<RpcResponse> {
    return decodeRpcResponse(await this.frame(ms));
  }

  async reply(ms?: number): Promise<RpcSessionReply> {
    return decodeRpcSessionReply(await this.frame(ms));
  }

  async request(ms?: number): Promise<RpcRequest> {
    return decodeRpcRequest(await this.frame(ms));
  }

  /** Waits for the end of the substream: `fin` or `reset` (frames before it are skipped). */
  async end(ms = 5_000): Promise<'fin' | 'reset'> {
    for (;;) {
      const e = await this.next(ms);
      if (e.kind !== 'frame') return e.kind;
    }
  }

  write(bytes: Uint8Array): void {
    this.stream.write(bytes);
  }

  /** Writes `RpcSession` and returns the server's reply. */
  async hello(versions: number[] = [1]): Promise<RpcSessionReply> {
    this.write(encodeRpcFrame(encodeRpcSession(versions)));
    return this.reply();
  }

  send(fields: RpcRequestFields): void {
    this.write(rpcRequestFrame(fields));
  }

  answer(fields: RpcResponseFields): void {
    this.write(rpcResponseFrame(fields));
  }

  accept(): void {
    this.write(encodeRpcFrame(encodeRpcSessionReply({ accepted: 1 })));
  }

  reject(reason: HandshakeRejectReason): void {
    this.write(encodeRpcFrame(encodeRpcSessionReply({ rejected: reason })));
  }

  /** Reads `RpcSession` (the client's handshake). */
  async session(ms?: number) {
    return decodeRpcSession(await this.frame(ms));
  }

  fin(): void {
    this.stream.end();
  }

  reset(): void {
    this.stream.destroy();
  }
}

/** A raw connection to a node (its own identity): substreams opened by hand. */
export class RawClient {
  constructor(
    readonly connection: PeerConnection,
    readonly config: UpgradeConfig,
  ) {}

  /** Connects to `node` over the memory network. */
  static async connect(network: MemoryNetwork, node: CommsNode, name = 'raw'): Promise<RawClient> {
    const config = testNode(name, { allowMemoryAddresses: true, addresses: ['/ip4/127.0.0.1/tcp/1'], yamux: { keepaliveIntervalMs: 0 } });
    const c = await new MemoryTransport({ network }).dial(node.listenAddresses[0]!);
    const connection = await upgradeOutbound(c.stream, config, { dialedPublicKey: node.publicKey });
    connection.release();
    return new RawClient(connection, config);
  }

  get publicKey() {
    return this.config.identity.publicKey;
  }

  /** Opens and negotiates a substream for `protocol`. */
  async open(protocol = BENCH): Promise<RawSubstream> {
    const { stream } = await this.connection.openStream([protocol]);
    return new RawSubstream(stream);
  }

  /** Opens a substream and completes the handshake (accepted). */
  async session(protocol = BENCH): Promise<RawSubstream> {
    const s = await this.open(protocol);
    const reply = await s.hello();
    if (reply.sessionResult.case !== 'acceptedVersion') throw new Error(`the session was not accepted: ${JSON.stringify(reply.sessionResult)} reason ${reply.rejectReason}`);
    return s;
  }

  /** Ends the connection at once (no grace period for the substreams left open). */
  close(): Promise<void> {
    this.connection.muxer.abort();
    return this.connection.muxer.closedPromise.then(() => undefined);
  }
}

/** A hand-written server: a raw peer listening on the memory network that serves `protocols` on substreams the node opens. */
export class RawServer {
  readonly substreams: RawSubstream[] = [];
  readonly connections: PeerConnection[] = [];
  #waiters: Array<(s: RawSubstream) => void> = [];

  private constructor(
    readonly config: UpgradeConfig,
    readonly address: string,
    readonly close: () => Promise<void>,
  ) {}

  static async listen(network: MemoryNetwork, protocols: string[] = [BENCH], name = 'raw-server'): Promise<RawServer> {
    const transport = new MemoryTransport({ network });
    const listener = await transport.listen(multiaddr('/memory/0'));
    const config = testNode(name, { allowMemoryAddresses: true, addresses: ['/ip4/127.0.0.1/tcp/2'], yamux: { keepaliveIntervalMs: 0 } });
    const server: RawServer = new RawServer(config, String(listener.address), async () => {
      await listener.close();
      for (const c of server.connections) c.muxer.abort();
    });
    void (async () => {
      for await (const c of listener) {
        upgradeInbound(c.stream, config).then(
          (conn) => {
            if (!(conn instanceof PeerConnection)) return;
            server.connections.push(conn);
            conn.on('stream', (s) => {
              s.on('error', () => {});
              negotiateInbound(s, new Set(protocols)).then(() => server.#arrived(new RawSubstream(s)), () => undefined);
            });
            conn.release();
          },
          () => c.stream.destroy(),
        );
      }
    })();
    return server;
  }

  get publicKey() {
    return this.config.identity.publicKey;
  }

  #arrived(s: RawSubstream): void {
    this.substreams.push(s);
    const w = this.#waiters.shift();
    if (w) w(s);
  }

  /** The next substream the node opens (one already opened and not taken yet first). */
  substream(ms = 5_000): Promise<RawSubstream> {
    const taken = this.#taken;
    if (this.substreams.length > taken) {
      this.#taken++;
      return Promise.resolve(this.substreams[taken]!);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no substream within ${ms} ms`)), ms);
      this.#waiters.push((s) => {
        clearTimeout(timer);
        this.#taken++;
        resolve(s);
      });
    });
  }
  #taken = 0;

  /** Takes the next substream, reads `RpcSession` and accepts it. */
  async session(ms?: number): Promise<RawSubstream> {
    const s = await this.substream(ms);
    await s.session();
    s.accept();
    return s;
  }
}

export { MemoryNetwork };
