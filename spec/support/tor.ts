/**
 * A real, offline Tor daemon for control-port tests: Debian's `tor` with `DisableNetwork 1`, a
 * temporary DataDirectory, and a control port Tor picks itself (`ControlPort auto`, written to a
 * file). Started per suite, stopped by pid, its directory removed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopProcess, waitForPort } from './processes.js';

export interface TorDaemon {
  host: string;
  controlPort: number;
  cookieFile: string;
  password: string | undefined;
  dir: string;
  stop(): Promise<void>;
}

export interface TorDaemonInit {
  /** No authentication at all (control port open to any local process). */
  open?: boolean;
  /** Also accept this password (HashedControlPassword). */
  password?: string;
}

export async function startTor(init: TorDaemonInit = {}): Promise<TorDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'tcomms-tor-'));
  const data = join(dir, 'data');
  mkdirSync(data, { mode: 0o700 });
  chmodSync(data, 0o700);
  const portFile = join(dir, 'control.port');
  const lines = [
    `DataDirectory ${data}`,
    'ControlPort auto',
    `ControlPortWriteToFile ${portFile}`,
    'SocksPort 0',
    'DisableNetwork 1',
    `CookieAuthentication ${init.open ? 0 : 1}`,
    `Log notice file ${join(dir, 'notice.log')}`,
  ];
  if (init.password !== undefined && !init.open) {
    const hashed = spawnSync('tor', ['--quiet', '--hash-password', init.password], { encoding: 'utf8', timeout: 10_000 });
    const hash = hashed.stdout.trim().split('\n').pop();
    if (!hash?.startsWith('16:')) throw new Error(`tor --hash-password failed: ${hashed.stderr}`);
    lines.push(`HashedControlPassword ${hash}`);
  }
  writeFileSync(join(dir, 'torrc'), lines.join('\n') + '\n');
  writeFileSync(join(dir, 'defaults'), '');
  const child = spawn('tor', ['-f', join(dir, 'torrc'), '--defaults-torrc', join(dir, 'defaults')], { stdio: 'ignore' });
  const stop = async () => {
    await stopProcess(child, 5000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const until = Date.now() + 15_000;
    while (!existsSync(portFile) || !/PORT=/.test(readFileSync(portFile, 'utf8'))) {
      if (child.exitCode !== null) throw new Error(`tor exited with ${child.exitCode}; see its log`);
      if (Date.now() > until) throw new Error('tor did not open its control port within 15 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const [, host, port] = /PORT=([\d.]+):(\d+)/.exec(readFileSync(portFile, 'utf8'))!;
    await waitForPort(host!, Number(port), 5000, child);
    return { host: host!, controlPort: Number(port), cookieFile: join(data, 'control_auth_cookie'), password: init.password, dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
