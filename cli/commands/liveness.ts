/** `tcomms liveness MULTIADDR`: the wire-byte 0xa7 line-echo check; prints the round trip. */
import { multiaddr } from '@multiformats/multiaddr';
import { parseAddress } from '../../core/address.js';
import { livenessCheck } from '../../channels/liveness.js';
import { TcpTransport } from '../../transports/tcp/tcp.js';
import { intOption, parseArgs, UsageError } from '../args.js';

/** Runs `tcomms liveness`. */
export async function livenessCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { json: 'flag', timeout: 'string' });
  const [address] = args.positional;
  if (!address || args.positional.length > 1) throw new UsageError('usage: tcomms liveness MULTIADDR');
  try {
    parseAddress(address);
  } catch (err) {
    throw new UsageError(`bad multiaddr: ${(err as Error).message}`);
  }
  const timeoutMs = intOption(args.options.timeout as string | undefined, 'timeout', 1, 3_600_000, 10_000);
  const { stream } = await new TcpTransport().dial(multiaddr(address), { timeoutMs });
  const ms = await livenessCheck(stream, { timeoutMs });
  if (args.options.json) process.stdout.write(`${JSON.stringify({ event: 'liveness', address, rttMs: Number(ms.toFixed(3)) })}\n`);
  else process.stdout.write(`${address} is live: round trip ${ms.toFixed(2)} ms\n`);
  return 0;
}
