/**
 * The two RPC stacks of `npm run bench:rpc`, behind one shape: tcomms (a `CommsNode` serving
 * `tcomms.bench.v1.Bench` over Noise and yamux) and @grpc/grpc-js (plaintext HTTP/2 on loopback,
 * `Server.addService` and `makeGenericClientConstructor` with the same protobuf-es messages'
 * serialize and deserialize). Both servers answer Echo with the request's payload and stream
 * `count` items of `size` bytes; a request of one 0xff byte is answered after 200 ms (to hold
 * many calls at once, which opens many sessions).
 */
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { NodeIdentity, publicKeyFromHex } from '../../core/keys.js';
import { toHex } from '../../core/bytes.js';
import { CommsBuilder, type CommsNode } from '../../node/index.js';
import { Bench, PayloadSchema, StreamRequestSchema, type Payload, type StreamRequest } from '../../proto/gen/tcomms/bench/v1/bench_pb.js';
import type { RpcClient } from '../../protocols/rpc/index.js';

/** The stacks compared. */
export type RpcStackName = 'tcomms' | 'grpc-js';

/** Where a server is. */
export interface RpcServerInfo {
  stack: RpcStackName;
  address: string;
  /** The tcomms server's public key hex. */
  id: string;
}

/** A running server. */
export interface RpcBenchServer {
  info: RpcServerInfo;
  stop(): Promise<void>;
}

/** A client of one server. */
export interface RpcBenchClient {
  echo(data: Uint8Array): Promise<void>;
  /** Receives a whole stream; resolves with the number of items. */
  stream(count: number, size: number): Promise<number>;
  stop(): Promise<void>;
}

/** The payload that makes the servers wait 200 ms before answering. */
export const HOLD = Uint8Array.of(0xff);
const holds = (data: Uint8Array) => data.length === 1 && data[0] === 0xff;
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a server of `stack` on 127.0.0.1 (port 0). */
export async function startRpcServer(stack: RpcStackName): Promise<RpcBenchServer> {
  return stack === 'tcomms' ? tcommsServer() : grpcServer();
}

/** A client of the server `info` (same stack). */
export async function startRpcClient(info: RpcServerInfo, options: { sessionsPerPeer?: number } = {}): Promise<RpcBenchClient> {
  return info.stack === 'tcomms' ? tcommsClient(info, options.sessionsPerPeer) : grpcClient(info);
}

// ---- tcomms --------------------------------------------------------------------------------

const node = (name: string, configure: (b: CommsBuilder) => CommsBuilder) =>
  configure(
    new CommsBuilder()
      .withNodeIdentity(NodeIdentity.generate())
      .withUserAgent(name)
      .withMessaging({ enabled: false })
      .withTimeouts({ keepaliveIntervalMs: 0, closeGraceMs: 500 })
      .withConnectivity({ minConnectivity: 0 }),
  ).build();

async function tcommsServer(): Promise<RpcBenchServer> {
  const n: CommsNode = node('bench-server', (b) =>
    b
      .withListenAddress('/ip4/127.0.0.1/tcp/0')
      // Enough slots for the memory row's sessions (yamux takes 512 inbound streams per connection).
      .withRpc({ maxSessions: 10_000, maxSessionsPerPeer: 10_000 })
      .withRpcService(Bench, {
        echo: async (request: Payload) => {
          if (holds(request.data)) await wait(200);
          return { data: request.data };
        },
        async *stream(request: StreamRequest) {
          const item = create(PayloadSchema, { data: new Uint8Array(request.size) });
          for (let i = 0; i < request.count; i++) yield item;
        },
      }),
  );
  await n.start();
  return { info: { stack: 'tcomms', address: String(n.listenAddresses[0]), id: toHex(n.publicKey) }, stop: () => n.stop() };
}

async function tcommsClient(info: RpcServerInfo, sessionsPerPeer = 4): Promise<RpcBenchClient> {
  const n = node('bench-client', (b) => b.withRpc({ clientSessionsPerPeer: sessionsPerPeer }));
  await n.start();
  const key = publicKeyFromHex(info.id);
  await n.addPeer(key, [info.address]);
  const client: RpcClient<typeof Bench> = await n.rpc(key, Bench);
  return {
    echo: async (data) => void (await client.echo({ data })),
    stream: async (count, size) => {
      let n = 0;
      for await (const _ of client.stream({ count, size })) n++;
      return n;
    },
    stop: () => n.stop(),
  };
}

// ---- grpc-js -------------------------------------------------------------------------------

const codec = <T>(schema: Parameters<typeof toBinary>[0]) => ({
  serialize: (m: T) => Buffer.from(toBinary(schema, m as never)),
  deserialize: (b: Buffer) => fromBinary(schema, b) as T,
});
const payload = codec<Payload>(PayloadSchema);
const streamRequest = codec<StreamRequest>(StreamRequestSchema);

/** Bench as grpc-js method definitions, with the protobuf-es messages' codecs. */
const definition = {
  echo: {
    path: '/tcomms.bench.v1.Bench/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: payload.serialize,
    requestDeserialize: payload.deserialize,
    responseSerialize: payload.serialize,
    responseDeserialize: payload.deserialize,
  },
  stream: {
    path: '/tcomms.bench.v1.Bench/Stream',
    requestStream: false,
    responseStream: true,
    requestSerialize: streamRequest.serialize,
    requestDeserialize: streamRequest.deserialize,
    responseSerialize: payload.serialize,
    responseDeserialize: payload.deserialize,
  },
} satisfies grpc.ServiceDefinition;

async function grpcServer(): Promise<RpcBenchServer> {
  const server = new grpc.Server();
  server.addService(definition, {
    echo: (call: grpc.ServerUnaryCall<Payload, Payload>, callback: grpc.sendUnaryData<Payload>) => {
      const answer = () => callback(null, create(PayloadSchema, { data: call.request.data }));
      if (holds(call.request.data)) setTimeout(answer, 200);
      else answer();
    },
    stream: async (call: grpc.ServerWritableStream<StreamRequest, Payload>) => {
      const item = create(PayloadSchema, { data: new Uint8Array(call.request.size) });
      for (let i = 0; i < call.request.count; i++) {
        if (!call.write(item)) await new Promise((r) => call.once('drain', r));
      }
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return {
    info: { stack: 'grpc-js', address: `127.0.0.1:${port}`, id: '' },
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

const Client = grpc.makeGenericClientConstructor(definition, 'Bench');

async function grpcClient(info: RpcServerInfo): Promise<RpcBenchClient> {
  // A channel of its own (grpc-js shares subchannels between clients of one target otherwise).
  const client = new Client(info.address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as unknown as {
    echo(request: Payload, callback: (err: grpc.ServiceError | null) => void): void;
    stream(request: StreamRequest): grpc.ClientReadableStream<Payload>;
    close(): void;
    waitForReady(deadline: number, cb: (err?: Error) => void): void;
  };
  await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())));
  return {
    echo: (data) => new Promise((resolve, reject) => client.echo(create(PayloadSchema, { data }), (err) => (err ? reject(err) : resolve()))),
    stream: async (count, size) => {
      let n = 0;
      for await (const _ of client.stream(create(StreamRequestSchema, { count, size }))) n++;
      return n;
    },
    stop: async () => client.close(),
  };
}
