/**
 * Benchmark scripts in a second process (the server of the two-process runs, the TCP echo), each
 * speaking in lines on stdin and stdout.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { scriptArgs } from '../harness.js';
import type { MessageTimes, ServerInfo, StackName } from './stacks.js';

/** A file of `bench/` (compiled or not, as this one), against which script names resolve. */
const BENCH_DIR = new URL(import.meta.url.endsWith('.js') ? '../harness.js' : '../harness.ts', import.meta.url).href;

/** A server in a second process. */
export interface Remote {
  info: ServerInfo;
  /** Its RSS after a GC (bytes). */
  rss(): Promise<number>;
  /** Its CPU time so far, user and system (microseconds). */
  cpu(): Promise<number>;
  /** The messages it received so far, and when the first and the last came (its own clock, ms). */
  messages(): Promise<MessageTimes>;
  /** Its process id (this process's own for a server in this process). */
  pid: number;
  stop(): Promise<void>;
}

/**
 * A benchmark script in a second process that speaks in lines: its next line of stdout, a line
 * to its stdin, and `stop` (the line every such script ends on) awaited until it exits. `name`
 * is relative to `bench/`.
 */
export function childScript(name: string, args: string[]): { pid: number; next(): Promise<string>; send(line: string): void; stop(): Promise<void> } {
  const child: ChildProcess = spawn(process.execPath, ['--expose-gc', ...scriptArgs(BENCH_DIR, name), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: Interface = createInterface({ input: child.stdout! });
  return {
    pid: child.pid!,
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
    messages: async () => (await ask('messages')) as unknown as MessageTimes,
    pid: child.pid,
    stop: () => child.stop(),
  };
}

/**
 * Runs `fn` with the processes `pids` (every thread of each) on one CPU alone, then puts back
 * the CPUs each had; processes they start meanwhile inherit the CPU. The CPU is the first one
 * the first process may run on (a container may not offer CPU 0). Undefined, and `fn` not run,
 * where CPUs cannot be chosen (no `taskset`, as on a system other than Linux, or a CPU another
 * process may not use).
 */
export async function onOneCpu<T>(pids: number[], fn: () => Promise<T>): Promise<T | undefined> {
  const taskset = (args: string[]) => execFileSync('taskset', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const restore = (before: string[]) => pids.forEach((pid, i) => taskset(['-a', '-c', '-p', before[i]!, String(pid)]));
  let before: string[];
  try {
    // "pid 123's current affinity list: 0,1"
    before = pids.map((pid) => taskset(['-c', '-p', String(pid)]).trim().split(': ').at(-1)!);
  } catch {
    return undefined;
  }
  // An affinity list reads like "0,1" or "2-5,7": its first number is its first CPU.
  const one = String(parseInt(before[0]!, 10));
  try {
    for (const pid of pids) taskset(['-a', '-c', '-p', one, String(pid)]);
  } catch {
    restore(before);
    return undefined;
  }
  try {
    return await fn();
  } finally {
    restore(before);
  }
}
