/**
 * Benchmark scripts in a second process (the server of the two-process runs, the TCP echo), each
 * speaking in lines on stdin and stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { scriptArgs } from '../harness.js';
import type { ServerInfo, StackName } from './stacks.js';

/** A file of `bench/` (compiled or not, as this one), against which script names resolve. */
const BENCH_DIR = new URL(import.meta.url.endsWith('.js') ? '../harness.js' : '../harness.ts', import.meta.url).href;

/** A server in a second process. */
export interface Remote {
  info: ServerInfo;
  /** Its RSS after a GC (bytes). */
  rss(): Promise<number>;
  /** Its CPU time so far, user and system (microseconds). */
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * A benchmark script in a second process that speaks in lines: its next line of stdout, a line
 * to its stdin, and `stop` (the line every such script ends on) awaited until it exits. `name`
 * is relative to `bench/`.
 */
export function childScript(name: string, args: string[]): { next(): Promise<string>; send(line: string): void; stop(): Promise<void> } {
  const child: ChildProcess = spawn(process.execPath, ['--expose-gc', ...scriptArgs(BENCH_DIR, name), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: Interface = createInterface({ input: child.stdout! });
  return {
    next: () => new Promise<string>((resolve) => lines.once('line', resolve)),
    send: (line) => child.stdin!.write(`${line}\n`),
    stop: async () => {
      child.stdin!.write('stop\n');
      await new Promise((r) => child.once('close', r));
    },
  };
}

/** A server of `stack` in a second process (`e2e/peer`). */
export async function remoteServer(stack: StackName): Promise<Remote> {
  const child = childScript('./e2e/peer', [stack]);
  const info = JSON.parse(await child.next()) as ServerInfo;
  const ask = async (line: string) => {
    child.send(line);
    return JSON.parse(await child.next()) as Record<string, number>;
  };
  return {
    info,
    rss: async () => (await ask('rss')).rss!,
    cpu: async () => (await ask('cpu')).cpu!,
    stop: () => child.stop(),
  };
}
