/**
 * The private Tor network of `../shared/tor-testnet/` (3 authorities, 3 relays, a client with
 * SOCKS and control ports, all on 127.0.0.1), run from where it is, never copied. Started once
 * per suite and stopped afterwards (`stop.sh --clean`). Absent `../shared`, suites skip.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingProgram } from './processes.js';

export const TESTNET_DIR = fileURLToPath(new URL('../../../shared/tor-testnet/', import.meta.url));

export interface TorTestnet {
  dir: string;
  socksPort: number;
  controlPort: number;
  cookieFile: string;
  stop(): Promise<void>;
}

/** Why the testnet cannot run here, or undefined when it can. */
export function testnetUnavailable(): string | undefined {
  if (!existsSync(join(TESTNET_DIR, 'start.sh'))) return `../shared/tor-testnet is absent (looked in ${TESTNET_DIR}); this suite needs the shared Tor test network`;
  return missingProgram('tor');
}

function run(script: string, args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(join(TESTNET_DIR, script), args, { cwd: TESTNET_DIR, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Whether ports base..base+41 can all be bound on 127.0.0.1 right now. */
async function rangeFree(base: number): Promise<boolean> {
  for (let p = base; p <= base + 41; p++) {
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (!free) return false;
  }
  return true;
}

/**
 * Starts the network (about 20 s, at most BOOTSTRAP_TIMEOUT): the scripts need a fixed block of 42
 * ports, so a free block is looked for first. A start that fails is stopped and retried once,
 * as the testnet's README advises for its rare slow bootstraps.
 */
export async function startTestnet(log: (line: string) => void = () => {}): Promise<TorTestnet> {
  let lastError = '';
  for (let attempt = 0; attempt < 2; attempt++) {
    let base = 0;
    for (let probe = 0; probe < 20 && base === 0; probe++) {
      const candidate = 20_000 + Math.floor(Math.random() * 800) * 50;
      if (await rangeFree(candidate)) base = candidate;
    }
    if (base === 0) throw new Error('no free block of 42 loopback ports for the Tor test network');
    const dir = mkdtempSync(join(tmpdir(), 'tcomms-tornet-'));
    const started = Date.now();
    const result = await run('start.sh', [dir, String(base)], 240_000);
    log(`tor testnet start (base ${base}): exit ${result.code} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const envFile = join(dir, 'network.env');
    if (result.code === 0 && existsSync(envFile)) {
      const env = Object.fromEntries(
        readFileSync(envFile, 'utf8')
          .split('\n')
          .filter((l) => l.includes('='))
          .map((l) => l.split('=', 2) as [string, string]),
      );
      return {
        dir,
        socksPort: Number(env.SOCKS_PORT),
        controlPort: Number(env.CONTROL_PORT),
        cookieFile: env.COOKIE_FILE!,
        stop: async () => {
          await run('stop.sh', [dir, '--clean'], 60_000);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    lastError = `${result.stdout.split('\n').slice(-10).join('\n')}\n${result.stderr.split('\n').slice(-10).join('\n')}`;
    await run('stop.sh', [dir, '--clean'], 60_000);
    rmSync(dir, { recursive: true, force: true });
  }
  throw new Error(`the Tor test network did not start:\n${lastError}`);
}
