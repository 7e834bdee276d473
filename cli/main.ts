/**
 * The `tcomms` command. Every error a person can make (a bad multiaddr or key, a port in use,
 * an unreachable peer) prints one line and exits non-zero: 2 for a usage error, 1 otherwise.
 * Stack traces only with TCOMMS_DEBUG=1.
 */
import { TcommsError } from '../core/errors.js';
import { UsageError } from './args.js';

const USAGE = `usage: tcomms <command> [options]

  keygen [--out FILE]                                 a new identity (key file mode 0600)
  node [--listen MULTIADDR]... [--data-dir DIR] [--network BYTE] [--pattern XX|IX]
       [--peer PUBKEYHEX@MULTIADDR]... [--echo] [--dht [--seed PUBKEYHEX@MULTIADDR]... [--saf-client]] [--json]
       [--proxy socks5://[USER:PASS@]HOST:PORT [--proxy-all]]
       [--tor-control HOST:PORT [--tor-cookie FILE | --tor-password PW] --onion-port N]
  send --to PUBKEYHEX@MULTIADDR (--message TEXT | --size BYTES) [--count N]
       [--network BYTE] [--pattern XX|IX] [--proxy ...] [--expect-echo] [--json]
  rpc --to PUBKEYHEX@MULTIADDR --service PROTOCOL_ID --method NAME [--request JSON]
      [--deadline MS] [--network BYTE] [--pattern XX|IX] [--proxy ...] [--json]
                                                      one call, protobuf JSON in and out
  dht send --via PUBKEYHEX@MULTIADDR --to PUBKEYHEX (--message TEXT | --size BYTES)
       [--encrypt] [--sign] [--discover] [--json] [--timeout MS]   one DHT message
  dht discover PUBKEYHEX --via PUBKEYHEX@MULTIADDR [--json]   a peer's claim, by DHT discovery
  peers [--data-dir DIR] [--json]                     the stored peers
  liveness MULTIADDR                                  wire byte 0xa7 line echo, round trip
  charts [--out DIR]                                  state charts (JSON and Mermaid)
  inspect [node options]                              a node with its XState inspection stream
`;

/**
 * Each command's module, loaded when it runs: `--help`, `keygen` and `liveness` do not load the
 * node (its import graph is about 0.35 s of a 0.47 s `tcomms --help` otherwise).
 */
const COMMANDS: Record<string, () => Promise<(argv: string[]) => Promise<number>>> = {
  keygen: async () => (await import('./commands/keygen.js')).keygen,
  node: async () => (await import('./commands/node.js')).nodeCommand,
  send: async () => (await import('./commands/send.js')).sendCommand,
  rpc: async () => (await import('./commands/rpc.js')).rpcCommand,
  dht: async () => (await import('./commands/dht.js')).dhtCommand,
  peers: async () => (await import('./commands/peers.js')).peersCommand,
  liveness: async () => (await import('./commands/liveness.js')).livenessCommand,
  charts: async () => (await import('./commands/charts.js')).chartsCommand,
  inspect: async () => (await import('./commands/inspect.js')).inspectCommand,
};

/** One line for an error: the typed name and message, or the system error's. */
export function errorLine(err: unknown): string {
  if (err instanceof UsageError) return err.message;
  if (err instanceof TcommsError) return `${err.name}: ${err.message}`;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'EADDRINUSE') return `the address is in use: ${e.message}`;
  return e instanceof Error ? e.message : String(err);
}

/** Runs the command line; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!load) {
    process.stderr.write(`tcomms: unknown command ${JSON.stringify(command)}\n${USAGE}`);
    return 2;
  }
  try {
    return await (await load())(rest);
  } catch (err) {
    process.stderr.write(`tcomms ${command}: ${errorLine(err)}\n`);
    if (process.env.TCOMMS_DEBUG === '1') process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
// Open handles (sockets being torn down) must not keep a finished command alive.
setTimeout(() => process.exit(), 2_000).unref();
