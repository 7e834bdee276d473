/**
 * The client of the fresh-process stream row, in a process of its own started for one run: it
 * connects to the server named by the JSON `ServerInfo` in argv, opens one stream, writes the
 * bytes given in argv once (no warm-up), prints `{"mbps": n}` as one line, then waits for `stop`.
 */
import { createInterface } from 'node:readline';
import { startClient, type ServerInfo } from './stacks.js';
import { streamThroughput } from './workloads.js';

const info = JSON.parse(process.argv[2]!) as ServerInfo;
const bytes = Number(process.argv[3]);
const client = await startClient(info.stack);
await client.connect(info);
const mbps = await streamThroughput(client, info, bytes);
process.stdout.write(`${JSON.stringify({ mbps })}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'stop') void client.stop().then(() => process.exit(0));
});
