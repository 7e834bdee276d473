/**
 * Real servers for tests (microsocks, tor): started on a free loopback port, waited for with a
 * bound, stopped by pid. Suites skip with a clear message when the program is not installed
 * (`.ci/run` installs it; the tests never install anything).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { closedPort } from './ports.js';

/** How a process run to its end went. */
export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command` to its end with its output collected; killed (SIGKILL) after `timeoutMs`. */
export function runToEnd(command: string, args: string[], options: { cwd?: string; timeoutMs: number }): Promise<ProcessResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...(options.cwd === undefined ? {} : { cwd: options.cwd }), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Whether a program is on the PATH. */
export function hasProgram(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** Resolves once something accepts TCP connections on host:port; rejects after `timeoutMs`. */
export async function waitForPort(host: string, port: number, timeoutMs = 10_000, child?: ChildProcess): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${child.spawnfile} exited with ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listened on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops a child by pid: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface Microsocks {
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts Debian's microsocks on loopback, with a username and password when given. */
export async function startMicrosocks(auth?: { username: string; password: string }, host = '127.0.0.1'): Promise<Microsocks> {
  for (let attempt = 0; ; attempt++) {
    const port = await closedPort(host);
    const args = ['-i', host, '-p', String(port), ...(auth ? ['-u', auth.username, '-P', auth.password] : [])];
    const child = spawn('microsocks', args, { stdio: 'ignore' });
    try {
      await waitForPort(host, port, 5000, child);
      return { host, port, stop: () => stopProcess(child) };
    } catch (err) {
      await stopProcess(child);
      if (attempt >= 2) throw err; // the port was taken between probe and start: try another
    }
  }
}

/** The reason to skip a suite that needs `program`, or undefined when it is installed. */
export function missingProgram(program: string): string | undefined {
  return hasProgram(program) ? undefined : `${program} is not installed (\`apt-get install -y ${program}\`, as .ci/run does)`;
}

/**
 * Skips the current test or suite, saying why, when `why` is set: a system tool or the shared
 * folder it needs is missing. With `TCOMMS_REQUIRE_SYSTEM=1` (set by `.ci/run`) it fails
 * instead, so that CI proves the real components ran.
 */
export function skipIfMissing(context: Mocha.Context, why: string | undefined): void {
  if (!why) return;
  if (process.env.TCOMMS_REQUIRE_SYSTEM === '1') throw new Error(`required by TCOMMS_REQUIRE_SYSTEM=1, but ${why}`);
  console.log(`      (skipped: ${why})`);
  context.skip();
}

/** Skips the current suite, saying why, when `program` is not installed (fails with `TCOMMS_REQUIRE_SYSTEM=1`). */
export function requireProgram(context: Mocha.Context, program: string): void {
  skipIfMissing(context, missingProgram(program));
}
