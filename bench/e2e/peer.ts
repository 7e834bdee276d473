/**
 * The server process of the two-process runs: starts a server of the stack named in argv, prints
 * its `ServerInfo` as one JSON line, then answers `rss` on stdin with its RSS after a GC, `cpu`
 * with its CPU time so far (microseconds) and `messages` with the messages it received so far and
 * when the first and the last came (its `performance.now()`).
 */
import { createInterface } from 'node:readline';
import { startServer, type StackName } from './stacks.js';

const server = await startServer(process.argv[2] as StackName);
process.stdout.write(`${JSON.stringify(server.info)}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'rss') {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    setTimeout(() => {
      gc?.();
      process.stdout.write(`${JSON.stringify({ rss: process.memoryUsage().rss })}\n`);
    }, 300);
  }
  if (line === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ cpu: user + system })}\n`);
  }
  if (line === 'messages') process.stdout.write(`${JSON.stringify(server.messages())}\n`);
  if (line === 'stop') void server.stop().then(() => process.exit(0));
});
