/**
 * `tcomms dht send` and `tcomms dht discover`: a short-lived DHT client node (listening on
 * 127.0.0.1, port 0, so that a discovered peer can answer it directly) that connects to the
 * `--via` peer, then sends one DOMAIN message (`message_type` 1) or discovers a public key.
 *
 * send: with `--discover`, the destination is discovered first (its DISCOVERY_RESPONSE comes
 * over a connection it makes to this node); the message then goes with the default strategy of
 * PROTOCOL.md 9.6 (directly when the destination is connected, else Propagate, else Broadcast).
 * Exit 0 once it was written to at least one peer.
 */
import { randomBytes } from 'node:crypto';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity, publicKeyFromHex, type PublicKey } from '../../core/keys.js';
import { settled } from '../../actors/dht/index.js';
import { CommsBuilder, type CommsNode } from '../../node/index.js';
import { intOption, parseArgs, UsageError } from '../args.js';
import { Output } from '../output.js';
import { NETWORK_OPTIONS, parsePeerArg, protocolOptions, transportsFrom, type PeerArg } from '../options.js';

const SEND = { ...NETWORK_OPTIONS, via: 'string', to: 'string', message: 'string', size: 'string', encrypt: 'flag', sign: 'flag', discover: 'flag', json: 'flag', timeout: 'string' } as const;
const DISCOVER = { ...NETWORK_OPTIONS, via: 'string', json: 'flag', timeout: 'string' } as const;

/** The application message type `tcomms dht send` uses. */
export const DHT_SEND_MESSAGE_TYPE = 1;

/** Runs `tcomms dht <send|discover> ...`. */
export async function dhtCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'send') return dhtSend(rest);
  if (sub === 'discover') return dhtDiscover(rest);
  throw new UsageError('usage: tcomms dht send ... | tcomms dht discover PUBKEYHEX --via PUBKEYHEX@MULTIADDR');
}

function keyArg(text: string | undefined, what: string): PublicKey {
  if (text === undefined) throw new UsageError(`${what} PUBKEYHEX is required`);
  try {
    return publicKeyFromHex(text);
  } catch (err) {
    throw new UsageError(`${what}: bad public key: ${(err as Error).message}`);
  }
}

/** A DHT client node connected to `via`; stopped by `use`'s end. */
async function withClient<T>(args: ReturnType<typeof parseArgs>, via: PeerArg, timeoutMs: number, use: (node: CommsNode) => Promise<T>): Promise<T> {
  const { networkByte, pattern } = protocolOptions(args);
  const builder = new CommsBuilder()
    .withNodeIdentity(NodeIdentity.generate())
    .withNetworkByte(networkByte)
    .withNoisePattern(pattern)
    .withUserAgent('tcomms-cli/0.1.0')
    .withListenAddress('/ip4/127.0.0.1/tcp/0')
    .withDialPolicy({ rounds: 1 })
    .withTimeouts({ dialAttemptMs: Math.min(20_000, timeoutMs), closeGraceMs: 1_000 }) // a short-lived client: do not linger on exit
    .withDht({ propagate: false, autoJoin: false, discoveryTimeoutMs: timeoutMs, networkDiscovery: { enabled: false } }); // one message: no peer sync
  for (const t of transportsFrom(args)) builder.withTransport(t);
  const node = builder.build();
  await node.start();
  try {
    await node.addPeer(via.publicKey, [via.address]);
    await node.dial(via.publicKey, { timeoutMs });
    return await use(node);
  } finally {
    await node.stop();
  }
}

async function dhtSend(argv: string[]): Promise<number> {
  const args = parseArgs(argv, SEND);
  const out = new Output(args.options.json === true);
  if (!args.options.via) throw new UsageError('--via PUBKEYHEX@MULTIADDR is required');
  const via = parsePeerArg(args.options.via as string, 'via');
  const to = keyArg(args.options.to as string | undefined, '--to');
  const text = args.options.message as string | undefined;
  if ((text === undefined) === (args.options.size === undefined)) throw new UsageError('give exactly one of --message TEXT or --size BYTES');
  const size = intOption(args.options.size as string | undefined, 'size', 0, 4 * 1024 * 1024, 0);
  const timeoutMs = intOption(args.options.timeout as string | undefined, 'timeout', 1, 3_600_000, 120_000);
  const payload = text !== undefined ? Buffer.from(text) : randomBytes(size);
  const encrypt = args.options.encrypt === true;
  const sign = args.options.sign === true;
  const discover = args.options.discover === true;
  return withClient(args, via, timeoutMs, async (node) => {
    const outcome = await node.dht.send({ to, type: DHT_SEND_MESSAGE_TYPE, payload, encrypt, sign, discover });
    const final = await settled(outcome);
    if (final.status === 'failed') {
      out.event('error', { error: final.error }, `error: ${final.error.name}: ${final.error.message}`);
      return 1;
    }
    const writes = await final.written;
    const written = writes.filter((w) => w.outcome.ok).map((w) => w.publicKey);
    if (written.length === 0) {
      const first = writes.find((w) => !w.outcome.ok)?.outcome;
      const error = first && !first.ok ? first.error : undefined;
      out.event('error', { error }, `error: the message was written to no peer${error ? `: ${error.name}: ${error.message}` : ''}`);
      return 1;
    }
    out.event(
      'dht.sent',
      { to, strategy: final.strategy, peers: written, discovered: outcome.status === 'pending-discovery', encrypted: encrypt, bytes: payload.length },
      `sent ${payload.length} bytes to ${toHex(to)} (${final.strategy}, ${written.length} peer${written.length === 1 ? '' : 's'}${encrypt ? ', encrypted' : ''})`,
    );
    return 0;
  });
}

async function dhtDiscover(argv: string[]): Promise<number> {
  const args = parseArgs(argv, DISCOVER);
  const out = new Output(args.options.json === true);
  if (args.positional.length !== 1) throw new UsageError('tcomms dht discover PUBKEYHEX --via PUBKEYHEX@MULTIADDR');
  const target = keyArg(args.positional[0], 'discover');
  if (!args.options.via) throw new UsageError('--via PUBKEYHEX@MULTIADDR is required');
  const via = parsePeerArg(args.options.via as string, 'via');
  const timeoutMs = intOption(args.options.timeout as string | undefined, 'timeout', 1, 3_600_000, 60_000);
  return withClient(args, via, timeoutMs, async (node) => {
    const found = await node.dht.discover(target);
    if (!found.ok) {
      out.event('error', { error: found.error }, `error: ${found.error.name}: ${found.error.message}`);
      return 1;
    }
    const p = found.peer;
    out.event(
      'dht.discovered',
      { publicKey: p.publicKey, nodeId: p.nodeId, addresses: p.addresses, features: p.features, userAgent: p.userAgent, updatedAt: Number(p.updatedAt) },
      [`public key: ${toHex(p.publicKey)}`, ...p.addresses.map((a) => `address:    ${a}`), `features:   ${p.features}`, `user agent: ${p.userAgent}`].join('\n'),
    );
    return 0;
  });
}
