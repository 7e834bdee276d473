/**
 * A loopback TCP port where connects hang: a listener (python3, which can listen without
 * accepting) with a backlog of 0 that never accepts, filled with one connection. Further SYNs are
 * dropped by the kernel, so a dial to it neither completes nor fails: what a dial timeout is for.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';

export interface Blackhole {
  port: number;
  close(): void;
}

const script = (host: string) =>
  [
    'import socket, sys',
    `s = socket.socket(socket.AF_INET6 if ':' in '${host}' else socket.AF_INET); s.bind(('${host}', 0)); s.listen(0)`,
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.read()',
  ].join('\n');

export async function blackhole(host = '127.0.0.1'): Promise<Blackhole> {
  const child: ChildProcess = spawn('python3', ['-c', script(host)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  clearTimeout(timer);
  const port = Number(line.toString().trim());
  // The one connection the backlog holds.
  const filler: Socket = connect({ port, host });
  filler.on('error', () => {});
  await once(filler, 'connect');
  return {
    port,
    close() {
      filler.destroy();
      child.stdin?.end();
      child.kill('SIGKILL');
    },
  };
}

/** A loopback TCP server that accepts and never says a word (a proxy or control port that stalls). */
export async function silentServer(): Promise<{ port: number; close(): void }> {
  const server = createServer((s) => s.on('error', () => {}));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, close: () => void server.close() };
}
