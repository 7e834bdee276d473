/**
 * `tcomms node`: a long-running node with an LMDB peer store and an identity key file in its
 * data directory (created on first run, reused after). SIGINT/SIGTERM stop it gracefully.
 */
import { mkdirSync } from 'node:fs';
import type { InspectionEvent } from 'xstate';
import { join } from 'node:path';
import { toHex } from '../../core/bytes.js';
import { CommsBuilder, type CommsNode } from '../../node/index.js';
import { parseArgs, UsageError } from '../args.js';
import { loadOrCreateKeyFile } from '../keyfile.js';
import { Output } from '../output.js';
import { checkListenAddress, NETWORK_OPTIONS, parsePeerArg, protocolOptions, transportsFrom } from '../options.js';

const SPEC = {
  ...NETWORK_OPTIONS,
  listen: 'strings',
  'data-dir': 'string',
  peer: 'strings',
  seed: 'strings',
  echo: 'flag',
  dht: 'flag',
  'saf-client': 'flag',
  json: 'flag',
  'tor-control': 'string',
  'tor-cookie': 'string',
  'tor-password': 'string',
  'onion-port': 'string',
} as const;

/** The default listen address of `tcomms node`. */
export const DEFAULT_LISTEN = '/ip4/127.0.0.1/tcp/18141';

/** Runs `tcomms node` until SIGINT/SIGTERM. */
export async function nodeCommand(argv: string[], hooks: { inspect?: (event: InspectionEvent) => void } = {}): Promise<number> {
  const args = parseArgs(argv, SPEC);
  const out = new Output(args.options.json === true);
  // Listen for the signals first: one that arrives while starting stops the node once started.
  const stopRequested = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  const { networkByte, pattern } = protocolOptions(args);
  const listen = ((args.options.listen as string[] | undefined) ?? [DEFAULT_LISTEN]).map(checkListenAddress);
  const peers = ((args.options.peer as string[] | undefined) ?? []).map((p) => parsePeerArg(p, 'peer'));
  const seeds = ((args.options.seed as string[] | undefined) ?? []).map((p) => parsePeerArg(p, 'seed'));
  if (seeds.length > 0 && args.options.dht !== true) throw new UsageError('--seed needs --dht (network discovery runs with the DHT)');
  const dataDir = (args.options['data-dir'] as string | undefined) ?? '.tcomms';
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const transports = transportsFrom(args, dataDir);
  const { identity, created } = loadOrCreateKeyFile(join(dataDir, 'identity.json'));
  const builder = new CommsBuilder()
    .withNodeIdentity(identity)
    .withNetworkByte(networkByte)
    .withNoisePattern(pattern)
    .withUserAgent('tcomms-cli/0.1.0')
    .withPeerStore({ kind: 'lmdb', path: join(dataDir, 'peers') })
    .withNodeInfo() // tcomms.info.v1.NodeInfo at /tcomms/info/1 (`tcomms rpc`)
    .withLiveness({ allow: ['127.0.0.1/32', '::1/128'] }); // `tcomms liveness` from this machine
  if (args.options.dht === true) {
    // Join on start, forwarding, discovery answers, peer sync served; network discovery from the seeds.
    builder.withDht({ seeds: seeds.map((p) => ({ publicKey: p.publicKey, addresses: [p.address] })) });
    // Store-and-forward (9.7), LMDB at <data dir>/saf beside the peers: a node stores for others
    // and claims feature bit 1; with --saf-client it only asks the store-and-forward peers it meets.
    builder.withStoreAndForward({ store: args.options['saf-client'] !== true, storage: { kind: 'lmdb', path: join(dataDir, 'saf') } });
  }
  for (const t of transports) builder.withTransport(t);
  for (const a of listen) builder.withListenAddress(a);
  // Inspection sees the whole actor system from before start, start-up included.
  if (hooks.inspect) builder.withInspect(hooks.inspect);
  const node = builder.build();
  wire(node, out, args.options.echo === true);
  if (args.options.dht === true) wireDht(node, out);
  await node.start();
  node.actors.dht?.on('dht.violation', (e) => out.event('dht.violation', { publicKey: e.publicKey, reason: e.reason }, `dht violation: ${toHex(e.publicKey)} (${e.reason})`));
  node.actors.networkDiscovery?.on('network-discovery.round', (e) =>
    out.event('network-discovery.round', { mode: e.mode, peers: e.peers, succeeded: e.succeeded, added: e.added }, `peer sync:    ${e.succeeded}/${e.peers} peers answered, ${e.added} new peers (${e.mode})`),
  );
  node.actors.saf?.on('saf.request-ended', (e) =>
    out.event('saf.request-ended', { publicKey: e.publicKey, outcome: e.outcome, messages: e.messages }, `store-and-forward: ${toHex(e.publicKey)} ${e.outcome}, ${e.messages} message(s)`),
  );
  node.actors.saf?.on('saf.response-rejected', (e) => out.event('saf.response-rejected', { publicKey: e.publicKey, reason: e.reason }, `store-and-forward: response from ${toHex(e.publicKey)} dropped (${e.reason})`));
  out.event(
    'listening',
    { publicKey: identity.publicKey, nodeId: identity.nodeId, addresses: node.listenAddresses.map(String), created },
    [`public key: ${toHex(identity.publicKey)}`, `node id:    ${toHex(identity.nodeId)}`, ...node.listenAddresses.map((a) => `listening:  ${a}`)].join('\n'),
  );
  for (const p of peers) {
    await node.addPeer(p.publicKey, [p.address]);
    node.dial(p.publicKey).catch((err: Error) => out.event('error', { message: `dial ${toHex(p.publicKey)}: ${err.message}` }, `error: dial ${toHex(p.publicKey)} failed: ${err.message}`));
  }
  await stopRequested;
  await node.stop();
  out.event('stopped', {}, 'stopped');
  return 0;
}

function wire(node: CommsNode, out: Output, echo: boolean): void {
  node.on('peer.connected', (e) => out.event('peer.connected', { publicKey: e.publicKey, direction: e.direction, userAgent: e.userAgent }, `connected:    ${toHex(e.publicKey)} (${e.direction}, ${e.userAgent})`));
  node.on('peer.disconnected', (e) => out.event('peer.disconnected', { publicKey: e.publicKey, ...(e.error ? { reason: e.error.name } : {}) }, `disconnected: ${toHex(e.publicKey)}${e.error ? ` (${e.error.name})` : ''}`));
  node.on('peer.banned', (e) => out.event('peer.banned', { publicKey: e.publicKey, durationMs: e.durationMs, reason: e.reason }, `banned:       ${toHex(e.publicKey)} (${e.reason})`));
  node.on('error', (err) => out.event('error', { message: err.message }, `error: ${err.message}`));
  node.on('message', (m) => {
    // Only what is printed is computed: the base64 body exists only in the JSON line.
    if (out.json) out.event('message', { from: m.from, size: m.body.length, body: Buffer.from(m.body).toString('base64') }, '');
    else out.line(() => `message:      ${m.body.length} bytes from ${toHex(m.from)}`);
    if (echo) {
      void node.send(m.from, m.body).then((o) => {
        if (!o.ok) out.event('error', { message: `echo to ${toHex(m.from)}: ${o.error.name}: ${o.error.message}` }, `error: echo failed: ${o.error.name}`);
      });
    }
  });
}

/** Each DOMAIN message the DHT delivers to this node: `dht.message` (origin null when anonymous; `late` and `storedAt` when it came from a store-and-forward peer). */
function wireDht(node: CommsNode, out: Output): void {
  node.dht.on('any', (m) => {
    if (out.json) {
      const late = m.late ? { late: true, storedAt: m.storedAt } : {};
      out.event('dht.message', { origin: m.origin ?? null, destination: m.destination ?? null, type: m.type, encrypted: m.encrypted, ...late, body: Buffer.from(m.payload).toString('base64') }, '');
    } else out.line(() => `dht message:  type ${m.type}, ${m.payload.length} bytes from ${m.origin ? toHex(m.origin) : 'an anonymous origin'}${m.encrypted ? ' (encrypted)' : ''}${m.late ? ` (late: stored at ${new Date(m.storedAt! * 1000).toISOString()})` : ''}`);
  });
}
