/** Loopback ports for tests: always bound with port 0 first, never guessed. */
import { createServer } from 'node:net';
import { once } from 'node:events';

/** A port that was free a moment ago (bound on port 0, then closed): nothing listens there. */
export async function closedPort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}
