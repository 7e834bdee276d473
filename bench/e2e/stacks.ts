/**
 * The two stacks of the end-to-end benchmark behind one small interface: tcomms (CommsNode) and
 * js-libp2p (libp2p + @libp2p/tcp + @chainsafe/libp2p-noise + @chainsafe/libp2p-yamux), each as
 * a server serving the benchmark protocols and as clients. Bench-only code (devDependencies).
 */
import '../../spec/support/libp2p-yamux.js'; // the Promise.withResolvers shim js-libp2p needs on Node 20
import type { Duplex } from 'node:stream';
import { NodeIdentity, publicKeyFromHex } from '../../core/keys.js';
import { CommsBuilder, type CommsNode } from '../../node/index.js';

/** The protocols a benchmark server serves. */
export const SINK = '/bench/sink/1';
export const ECHO = '/bench/echo/1';
export const FRAMES = '/bench/frames/1';
export const COUNT = '/bench/count/1';

/** How a client reaches a server. */
export interface ServerInfo {
  stack: StackName;
  address: string;
  id: string;
}

/** The stacks compared. */
export type StackName = 'tcomms' | 'js-libp2p';

/** The stacks a benchmark run compares: both, or those named in `E2E_STACKS` (comma-separated). */
export function stacksToRun(): StackName[] {
  const named = process.env.E2E_STACKS?.split(',');
  return (['tcomms', 'js-libp2p'] as StackName[]).filter((s) => named === undefined || named.includes(s));
}

/** A stream as the workloads use it. */
export interface BenchStream {
  /** Writes with backpressure. */
  write(data: Uint8Array): Promise<void>;
  /** Ends the write side. */
  end(): Promise<void>;
  /** Everything received, in chunks. */
  chunks(): AsyncIterable<Uint8Array>;
}

/** A client node of either stack. */
export interface BenchClient {
  connect(server: ServerInfo): Promise<void>;
  disconnect(server: ServerInfo): Promise<void>;
  open(server: ServerInfo, protocol: string): Promise<BenchStream>;
  /** Sends one message the fastest way the stack offers (tcomms: messaging; js-libp2p: a frame on a kept stream). */
  message(server: ServerInfo, body: Uint8Array): Promise<void>;
  stop(): Promise<void>;
}

/** A running server. */
export interface BenchServer {
  info: ServerInfo;
  /** Messages received so far, and when the first and the last arrived (`performance.now()` of the server's process). */
  messages(): MessageTimes;
  stop(): Promise<void>;
}

/** What {@link BenchServer.messages} answers. */
export interface MessageTimes {
  count: number;
  first: number;
  last: number;
}

/** `n` as 8 bytes, big-endian (the counts the benchmark protocols answer with). */
export const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};

/** Counts received 100-byte messages for the COUNT protocol, whichever way they came. */
class MessageCounter {
  count = 0;
  first = 0;
  last = 0;
  #waiters: Array<{ n: number; resolve: () => void }> = [];
  add(n: number): void {
    this.last = performance.now();
    if (this.count === 0) this.first = this.last;
    this.count += n;
    this.#waiters = this.#waiters.filter((w) => (this.count >= w.n ? (w.resolve(), false) : true));
  }
  reached(n: number): Promise<void> {
    if (this.count >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }
}

/** Resolves on the stream's 'drain'; rejects if it fails or closes first. */
function drained(stream: Duplex): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (err?: Error) => {
      stream.off('drain', onDrain);
      stream.off('error', settle);
      stream.off('close', onClose);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onDrain = () => settle();
    const onClose = () => settle(new Error('the stream closed while a write waited for drain'));
    stream.on('drain', onDrain);
    stream.on('error', settle);
    stream.on('close', onClose);
  });
}

function duplexStream(stream: Duplex): BenchStream {
  return {
    // As the js-libp2p stream below: wait only when the stream asks to (backpressure).
    write: async (data) => {
      if (!stream.write(data)) await drained(stream);
    },
    end: () => new Promise((resolve) => stream.end(resolve)),
    chunks: () => stream as AsyncIterable<Uint8Array>,
  };
}

// ---------------------------------------------------------------- tcomms

function tcommsNode(listen: boolean): CommsNode {
  const b = new CommsBuilder()
    .withNodeIdentity(NodeIdentity.generate())
    .withDialPolicy({ rounds: 1 })
    .withLimits({ maxConnections: 5_000, maxConcurrentUpgrades: 256, maxUpgradesPerAddress: 256 }) // every client dials from 127.0.0.1: admission's per-address bound (4) would measure itself
    .withTimeouts({ keepaliveIntervalMs: 0, closeGraceMs: 1_000 })
    .withConnectivity({ reapThreshold: 100_000 });
  // `E2E_X25519=on|off` overrides the default crypto policy's X25519 service, for comparisons.
  if (process.env.E2E_X25519 !== undefined) b.withCrypto({ policy: { x25519OnPool: process.env.E2E_X25519 === 'on' } });
  if (listen) b.withListenAddress('/ip4/127.0.0.1/tcp/0');
  return b.build();
}

async function tcommsServer(): Promise<BenchServer> {
  const node = tcommsNode(true);
  const counter = new MessageCounter();
  node.registerProtocol(SINK, (s) => {
    let bytes = 0;
    s.on('data', (d: Buffer) => (bytes += d.length));
    s.on('end', () => s.end(u64(bytes)));
  });
  node.registerProtocol(ECHO, (s) => void s.pipe(s));
  node.registerProtocol(COUNT, (s) => {
    s.once('data', (d: Buffer) => void counter.reached(Number(d.readBigUInt64BE(0))).then(() => s.end(u64(counter.count))));
  });
  node.on('message', () => counter.add(1));
  await node.start();
  return {
    info: { stack: 'tcomms', address: String(node.listenAddresses[0]), id: Buffer.from(node.publicKey).toString('hex') },
    messages: () => ({ count: counter.count, first: counter.first, last: counter.last }),
    stop: () => node.stop(),
  };
}

async function tcommsClient(): Promise<BenchClient> {
  const node = tcommsNode(false);
  await node.start();
  const added = new Set<string>();
  const learn = async (s: ServerInfo) => {
    if (added.has(s.id)) return;
    await node.addPeer(s.id, [s.address]);
    added.add(s.id);
  };
  return {
    connect: async (s) => {
      await learn(s);
      await node.dial(s.id);
    },
    // Waits for the node to report the connection gone (as js-libp2p's hangUp resolves once
    // closed), bounded; an earlier version polled with setImmediate and kept a core busy.
    disconnect: async (s) => {
      const key = publicKeyFromHex(s.id);
      if (!node.connections().some((c) => Buffer.from(c.publicKey).equals(key))) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, 10_000);
        function done() {
          clearTimeout(timer);
          node.off('peer.disconnected', onGone);
          resolve();
        }
        function onGone(e: { publicKey: Uint8Array }) {
          if (Buffer.from(e.publicKey).equals(key)) done();
        }
        node.on('peer.disconnected', onGone);
        node.disconnect(s.id);
      });
    },
    open: async (s, protocol) => {
      await learn(s);
      return duplexStream((await node.openStream(s.id, [protocol])).stream);
    },
    message: async (s, body) => {
      const o = await node.send(s.id, body);
      if (!o.ok) throw new Error(`${o.error.name}: ${o.error.message}`);
    },
    stop: () => node.stop(),
  };
}

// ---------------------------------------------------------------- js-libp2p

async function libp2pNode(listen: boolean) {
  const { createLibp2p } = await import('libp2p');
  const { tcp } = await import('@libp2p/tcp');
  const { noise } = await import('@chainsafe/libp2p-noise');
  const { yamux } = await import('@chainsafe/libp2p-yamux');
  return createLibp2p({
    addresses: { listen: listen ? ['/ip4/127.0.0.1/tcp/0'] : [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // Raised for a loopback benchmark (its defaults rate-limit inbound connections per host); no ping service.
    connectionManager: { maxConnections: 100_000, inboundConnectionThreshold: 1_000_000, maxIncomingPendingConnections: 10_000, maxParallelDials: 1_000 },
  });
}

type Libp2pStream = {
  send(d: Uint8Array): boolean;
  onDrain(): Promise<void>;
  close(): Promise<void>;
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array | { subarray(): Uint8Array }>;
};

function libp2pStream(stream: Libp2pStream): BenchStream {
  return {
    write: async (data) => {
      if (!stream.send(data)) await stream.onDrain();
    },
    end: () => stream.close(),
    chunks: async function* () {
      for await (const c of stream) yield c instanceof Uint8Array ? c : c.subarray();
    },
  };
}

async function libp2pServer(): Promise<BenchServer> {
  const node = await libp2pNode(true);
  const counter = new MessageCounter();
  const limits = { maxInboundStreams: 10_000, maxOutboundStreams: 10_000 };
  await node.handle(
    SINK,
    async (s) => {
      let bytes = 0;
      for await (const c of s) bytes += c.byteLength;
      s.send(u64(bytes));
      await s.close();
    },
    limits,
  );
  await node.handle(
    ECHO,
    async (s) => {
      for await (const c of s) if (!s.send(c)) await s.onDrain();
      await s.close();
    },
    limits,
  );
  await node.handle(
    FRAMES,
    async (s) => {
      let pending = 0; // bytes left of the current frame, or -1 while reading a header
      let header = Buffer.alloc(0);
      for await (const c of s) {
        let chunk = Buffer.from(c instanceof Uint8Array ? c : c.subarray());
        while (chunk.length > 0) {
          if (pending === 0) {
            const need = 4 - header.length;
            header = Buffer.concat([header, chunk.subarray(0, need)]);
            chunk = chunk.subarray(need);
            if (header.length === 4) {
              pending = header.readUInt32BE(0);
              header = Buffer.alloc(0);
              if (pending === 0) counter.add(1);
            }
          } else {
            const k = Math.min(pending, chunk.length);
            pending -= k;
            chunk = chunk.subarray(k);
            if (pending === 0) counter.add(1);
          }
        }
      }
    },
    limits,
  );
  await node.handle(
    COUNT,
    async (s) => {
      for await (const c of s) {
        const d = Buffer.from(c instanceof Uint8Array ? c : c.subarray());
        await counter.reached(Number(d.readBigUInt64BE(0)));
        s.send(u64(counter.count));
        await s.close();
        return;
      }
    },
    limits,
  );
  const address = String(node.getMultiaddrs()[0]);
  return {
    info: { stack: 'js-libp2p', address, id: node.peerId.toString() },
    messages: () => ({ count: counter.count, first: counter.first, last: counter.last }),
    stop: async () => {
      await node.stop();
    },
  };
}

async function libp2pClient(): Promise<BenchClient> {
  const node = await libp2pNode(false);
  const { multiaddr } = await import('@multiformats/multiaddr');
  const framers = new Map<string, Promise<Libp2pStream>>();
  return {
    connect: async (s) => {
      await node.dial(multiaddr(s.address));
    },
    disconnect: async (s) => {
      await node.hangUp(multiaddr(s.address));
    },
    open: async (s, protocol) => libp2pStream((await node.dialProtocol(multiaddr(s.address), protocol)) as unknown as Libp2pStream),
    message: async (s, body) => {
      let framer = framers.get(s.address);
      if (!framer) {
        framer = node.dialProtocol(multiaddr(s.address), FRAMES) as unknown as Promise<Libp2pStream>;
        framers.set(s.address, framer);
      }
      const stream = await framer;
      const header = Buffer.alloc(4);
      header.writeUInt32BE(body.length);
      if (!stream.send(Buffer.concat([header, body]))) await stream.onDrain();
    },
    stop: async () => {
      await node.stop();
    },
  };
}

/** A server of the named stack, in this process. */
export function startServer(stack: StackName): Promise<BenchServer> {
  return stack === 'tcomms' ? tcommsServer() : libp2pServer();
}

/** A client of the named stack. */
export function startClient(stack: StackName): Promise<BenchClient> {
  return stack === 'tcomms' ? tcommsClient() : libp2pClient();
}
