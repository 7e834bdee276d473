/**
 * The command line's stream: `tcomms node` (as people run it, printing a line per message) in
 * one process and `tcomms send --size 65536 --count 8192` (512 MiB) in another, both the built
 * binary (`dist/cli/bin.js`). The figure is the receiver's rate: bytes of the messages after the
 * first, over the time from the first message's line to the last one's, as this process reads
 * the node's output.
 *
 * Both binaries are fresh processes, measured from their first message: nothing in them is warm
 * (V8 has optimised none of the data path, the heaps and the connection's windows are at their
 * start sizes). The two-process stream row is measured warm (after a 256 MiB warm-up, in
 * processes that already ran the other rows), so {@link freshStreamThroughput} measures that
 * stream as the binaries run, from two fresh processes, and {@link freshMessagingThroughput} the
 * binaries' own workload through the node API from two fresh processes, for the like-for-like
 * comparisons.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { childScript, remoteServer } from './remote.js';

const BIN = fileURLToPath(new URL(import.meta.url.endsWith('.js') ? '../../cli/bin.js' : '../../dist/cli/bin.js', import.meta.url));
const SIZE = 65_536;
const COUNT = 8_192;
/** Bytes of the command line's stream (8,192 messages of 64 KiB). */
export const CLI_STREAM_BYTES = SIZE * COUNT;

/** MB/s (10^6 bytes) of one `tcomms send` into one `tcomms node`. */
export async function cliStreamThroughput(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'tcomms-bench-cli-'));
  const node = spawn(process.execPath, [BIN, 'node', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let publicKey = '';
    let address = '';
    let received = 0;
    let first = 0;
    let last = 0;
    let done: () => void = () => {};
    const all = new Promise<void>((resolve) => (done = resolve));
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('tcomms node did not start')), 30_000);
      createInterface({ input: node.stdout! }).on('line', (line) => {
        if (line.startsWith('message:')) {
          last = performance.now();
          if (received++ === 0) first = last;
          if (received === COUNT) done();
        } else if (line.startsWith('public key:')) publicKey = line.split(/\s+/).at(-1)!;
        else if (line.startsWith('listening:')) {
          address = line.split(/\s+/).at(-1)!;
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await ready;
    const send = spawn(process.execPath, [BIN, 'send', '--to', `${publicKey}@${address}`, '--size', String(SIZE), '--count', String(COUNT), '--json'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const sent = new Promise<number | null>((resolve) => send.once('close', resolve));
    await Promise.race([all, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${received} of ${COUNT} messages within 120 s`)), 120_000).unref())]);
    if ((await sent) !== 0) throw new Error('tcomms send failed');
    return ((COUNT - 1) * SIZE) / 1e6 / ((last - first) / 1000);
  } finally {
    node.kill('SIGTERM');
    await new Promise((r) => node.once('close', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * MB/s of the two-process stream as the command line's row runs it: a fresh server process
 * (`e2e/peer`) and a fresh client process (`e2e/stream-client`), one stream of
 * {@link CLI_STREAM_BYTES} written once, no warm-up (the bench's one-stream workload).
 */
export async function freshStreamThroughput(): Promise<number> {
  const server = await remoteServer('tcomms');
  try {
    const client = childScript('./e2e/stream-client', [JSON.stringify(server.info), String(CLI_STREAM_BYTES)]);
    try {
      return (JSON.parse(await client.next()) as { mbps: number }).mbps;
    } finally {
      await client.stop();
    }
  } finally {
    await server.stop();
  }
}

/**
 * MB/s of the command line's workload through the node API from two fresh processes: a server
 * process (`e2e/peer`, counting `message` events) and a client process (`e2e/stream-client
 * messages`) sending {@link CLI_STREAM_BYTES} as 64 KiB messages, at most 512 outstanding, as
 * `tcomms send` does. Measured as the command line's row: the messages after the first, over the
 * time from the first one's arrival to the last one's, by the receiver's clock.
 */
export async function freshMessagingThroughput(): Promise<number> {
  const server = await remoteServer('tcomms');
  try {
    const client = childScript('./e2e/stream-client', [JSON.stringify(server.info), String(CLI_STREAM_BYTES), 'messages']);
    try {
      const { sent } = JSON.parse(await client.next()) as { sent: number };
      if (sent !== COUNT) throw new Error(`the client sent ${sent} of ${COUNT} messages`);
      // Taken by the stream is not yet received: wait for the server to count them all (bounded).
      for (const deadline = performance.now() + 60_000; ; ) {
        const m = await server.messages();
        if (m.count >= COUNT) return ((COUNT - 1) * SIZE) / 1e6 / ((m.last - m.first) / 1000);
        if (performance.now() > deadline) throw new Error(`the server counted ${m.count} of ${COUNT} messages within 60 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await client.stop();
    }
  } finally {
    await server.stop();
  }
}
