/**
 * The client of the fresh-process rows, in a process of its own started for one run: it connects
 * to the server named by the JSON `ServerInfo` in argv and sends the bytes given in argv once (no
 * warm-up), on one stream (prints `{"mbps": n}`, as the client measured it) or, with a third
 * argument `messages`, as 64 KiB messages the way `tcomms send` sends them (prints `{"sent": n}`;
 * the server times their arrival). One line, then it waits for `stop`.
 */
import { createInterface } from 'node:readline';
import { startClient, type ServerInfo } from './stacks.js';
import { sendMessages, streamThroughput } from './workloads.js';

const info = JSON.parse(process.argv[2]!) as ServerInfo;
const bytes = Number(process.argv[3]);
const client = await startClient(info.stack);
await client.connect(info);
if (process.argv[4] === 'messages') process.stdout.write(`${JSON.stringify({ sent: await sendMessages(client, info, bytes) })}\n`);
else process.stdout.write(`${JSON.stringify({ mbps: await streamThroughput(client, info, bytes) })}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'stop') void client.stop().then(() => process.exit(0));
});
