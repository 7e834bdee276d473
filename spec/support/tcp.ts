/** A connected TCP loopback pair on port 0 (client end first). */
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';

export async function tcpPair(host = '127.0.0.1'): Promise<[Socket, Socket]> {
  const server = createServer({ allowHalfOpen: true });
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect({ host, port, noDelay: true, allowHalfOpen: true });
  await once(client, 'connect');
  const [serverSide] = await accepted;
  serverSide.setNoDelay(true);
  server.close();
  return [client, serverSide];
}
