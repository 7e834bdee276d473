/**
 * `tcomms send --to PUBKEYHEX@MULTIADDR (--message TEXT | --size BYTES) [--count N]`: dials,
 * sends, waits until every message is written (or failed), and with `--expect-echo` until each
 * came back byte for byte. Exit 0 only if all were.
 */
import { randomBytes } from 'node:crypto';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity } from '../../core/keys.js';
import type { SendOutcome } from '../../actors/messaging/index.js';
import { CommsBuilder } from '../../node/index.js';
import { intOption, parseArgs, UsageError } from '../args.js';
import { Output } from '../output.js';
import { NETWORK_OPTIONS, parsePeerArg, protocolOptions, transportsFrom } from '../options.js';

const SPEC = { ...NETWORK_OPTIONS, to: 'string', message: 'string', size: 'string', count: 'string', 'expect-echo': 'flag', json: 'flag', timeout: 'string' } as const;

/** Messages outstanding at most (within the per-peer queue bound). */
const WINDOW = 512;

/** Runs `tcomms send`. */
export async function sendCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, SPEC);
  const out = new Output(args.options.json === true);
  if (!args.options.to) throw new UsageError('--to PUBKEYHEX@MULTIADDR is required');
  const to = parsePeerArg(args.options.to as string, 'to');
  const text = args.options.message as string | undefined;
  if ((text === undefined) === (args.options.size === undefined)) throw new UsageError('give exactly one of --message TEXT or --size BYTES');
  const size = intOption(args.options.size as string | undefined, 'size', 0, 8 * 1024 * 1024, 0);
  const count = intOption(args.options.count as string | undefined, 'count', 1, 10_000_000, 1);
  const timeoutMs = intOption(args.options.timeout as string | undefined, 'timeout', 1, 3_600_000, 120_000);
  const { networkByte, pattern } = protocolOptions(args);
  const builder = new CommsBuilder()
    .withNodeIdentity(NodeIdentity.generate())
    .withNetworkByte(networkByte)
    .withNoisePattern(pattern)
    .withUserAgent('tcomms-cli/0.1.0')
    .withDialPolicy({ rounds: 1 })
    .withTimeouts({ dialAttemptMs: 20_000, closeGraceMs: 1_000 }); // a short-lived client: do not linger on exit
  for (const t of transportsFrom(args)) builder.withTransport(t);
  const node = builder.build();
  const expectEcho = args.options['expect-echo'] === true;
  // One body for every message: making 64 KiB of random bytes per message cost the sender about
  // a fifth of its time (profiled), and what is sent does not depend on it.
  const payload = text !== undefined ? Buffer.from(text) : randomBytes(size);
  const body = () => payload;
  const sent: Uint8Array[] = [];
  let echoed = 0;
  let mismatch: string | undefined;
  let echoDone: () => void = () => {};
  const allEchoed = new Promise<void>((resolve) => (echoDone = resolve));
  await node.start();
  const started = performance.now();
  try {
    node.on('message', (m) => {
      if (toHex(m.from) !== toHex(to.publicKey) || !expectEcho) return;
      const expected = sent[echoed];
      if (!expected || !Buffer.from(expected).equals(Buffer.from(m.body))) mismatch ??= `echo ${echoed} differs from what was sent`;
      echoed++;
      if (echoed === count) echoDone();
    });
    await node.addPeer(to.publicKey, [to.address]);
    const outcomes: Array<Promise<SendOutcome>> = [];
    for (let i = 0; i < count; i++) {
      if (i >= WINDOW) {
        const o = await outcomes[i - WINDOW]!;
        if (!o.ok) break; // the peer is gone: stop queueing
      }
      const b = body();
      if (expectEcho) sent.push(b);
      outcomes.push(node.send(to.publicKey, b));
    }
    const settled = await Promise.all(outcomes);
    const failed = settled.filter((o): o is Extract<SendOutcome, { ok: false }> => !o.ok);
    const written = settled.length - failed.length;
    const ms = performance.now() - started;
    const bytes = written * (text !== undefined ? Buffer.byteLength(text) : size);
    if (failed.length > 0 || written < count) {
      const first = failed[0]?.error;
      out.event('error', { written, count, error: first }, `error: ${count - written} of ${count} messages not written${first ? `: ${first.name}: ${first.message}` : ''}`);
      return 1;
    }
    if (expectEcho) {
      const timer = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
      await Promise.race([allEchoed, timer]);
      if (mismatch || echoed < count) {
        out.event('error', { written, echoed, count, message: mismatch ?? 'echo timeout' }, `error: ${mismatch ?? `only ${echoed} of ${count} echoes within ${timeoutMs} ms`}`);
        return 1;
      }
    }
    const total = performance.now() - started;
    out.event(
      'sent',
      { count, bytes, writtenMs: Math.round(ms), ...(expectEcho ? { echoed, totalMs: Math.round(total) } : {}) },
      `sent ${count} message${count === 1 ? '' : 's'} (${bytes} bytes) to ${toHex(to.publicKey)} in ${ms.toFixed(0)} ms${expectEcho ? `; all ${echoed} echoed back intact in ${total.toFixed(0)} ms` : ''}`,
    );
    return 0;
  } finally {
    await node.stop();
  }
}
