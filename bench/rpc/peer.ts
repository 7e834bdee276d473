/**
 * The server process of `bench:rpc`'s two-process runs: starts a server of the stack named in
 * argv, prints its `RpcServerInfo` as one JSON line, then answers `held` on stdin with its JS
 * heap and buffers after a GC, and `stop`.
 */
import { createInterface } from 'node:readline';
import { startRpcServer, type RpcStackName } from './stacks.js';

const server = await startRpcServer(process.argv[2] as RpcStackName);
process.stdout.write(`${JSON.stringify(server.info)}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'held') {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    setTimeout(() => {
      gc?.();
      const m = process.memoryUsage();
      process.stdout.write(`${JSON.stringify({ held: m.heapUsed + m.external })}\n`);
    }, 300);
  }
  if (line === 'stop') void server.stop().then(() => process.exit(0));
});
