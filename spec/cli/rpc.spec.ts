/** `tcomms rpc` against a `tcomms node` process: real processes, exact shapes and exit codes. */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { runToEnd, stopProcess, type ProcessResult } from '../support/processes.js';
import { closedPort } from '../support/ports.js';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity } from '../../core/keys.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'cli', 'tcomms.js');

function run(args: string[], timeoutMs = 60_000): Promise<ProcessResult> {
  return runToEnd(process.execPath, [BIN, ...args], { cwd: ROOT, timeoutMs });
}

describe('tcomms rpc', function () {
  this.timeout(120_000);
  let dir: string;
  let node: ChildProcess;
  let to: string;
  let first: { publicKey: string; addresses: string[] };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tcomms-rpc-'));
    node = spawn(process.execPath, [BIN, 'node', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    first = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no listening line within 30 s')), 30_000);
      createInterface({ input: node.stdout! }).on('line', (line) => {
        const parsed = JSON.parse(line) as { event: string; publicKey: string; addresses: string[] };
        if (parsed.event === 'listening') {
          clearTimeout(timer);
          resolve(parsed);
        }
      });
    });
    to = `${first.publicKey}@${first.addresses[0]}`;
  });

  after(async () => {
    await stopProcess(node);
    rmSync(dir, { recursive: true, force: true });
  });

  it('calls GetInfo of the built-in NodeInfo: one JSON object (protobuf JSON mapping), exit 0', async () => {
    const r = await run(['rpc', '--to', to, '--service', '/tcomms/info/1', '--method', 'GetInfo', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).to.have.length(1);
    const info = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Buffer.from(info.publicKey as string, 'base64').toString('hex')).to.equal(first.publicKey);
    expect(info).to.include({ userAgent: 'tcomms-cli/0.1.0', connections: 1 });
    expect(info.addresses).to.deep.equal(first.addresses);
    expect(Number(info.uptimeMs)).to.be.greaterThan(0);
  });

  it('streams ListConnections: one JSON object per item (the local name works too); a request in JSON', async () => {
    const r = await run(['rpc', '--to', to, '--service', '/tcomms/info/1', '--method', 'listConnections', '--request', '{"limit": 5}', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const items = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(items).to.have.length(1); // this call's own connection
    expect(Buffer.from(items[0]!.publicKey as string, 'base64')).to.have.length(32);
  });

  it('a non-Ok status: exit 1 and one line naming it', async () => {
    const r = await run(['rpc', '--to', to, '--service', '/tcomms/info/1', '--method', 'GetInfo', '--deadline', '500']);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr.trim().split('\n')).to.deep.equal(['tcomms rpc: status BadRequest (1): deadline_ms 500 is below the minimum of 1000']);
  });

  it('mistakes are usage errors (exit 2, one line); an unreachable peer is exit 1, one line', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['rpc', '--to', to, '--service', '/nope/1', '--method', 'GetInfo'], 2, /no known service at "\/nope\/1" \(known: \/tcomms\/info\/1, \/tari\/dht\/1\)/],
      [['rpc', '--to', to, '--service', '/tcomms/info/1', '--method', 'Nope'], 2, /has no method "Nope" \(methods: GetInfo, ListConnections\)/],
      [['rpc', '--to', to, '--service', '/tcomms/info/1', '--method', 'ListConnections', '--request', '{"limit": "x"}'], 2, /--request is not a tcomms.info.v1.ListConnectionsRequest/],
      [['rpc', '--to', to, '--service', '/tcomms/info/1', '--method', 'GetInfo', '--request', '{'], 2, /--request is not JSON/],
      [['rpc', '--to', to, '--method', 'GetInfo'], 2, /--service is required/],
      [['rpc', '--to', `${toHex(NodeIdentity.generate().publicKey)}@/ip4/127.0.0.1/tcp/${await closedPort()}`, '--service', '/tcomms/info/1', '--method', 'GetInfo'], 1, /RpcOpenFailed/],
    ];
    for (const [args, code, message] of cases) {
      const r = await run(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(code);
      expect(r.stderr.trim().split('\n'), args.join(' ')).to.have.length(1);
      expect(r.stderr).to.match(message);
    }
  });
});
