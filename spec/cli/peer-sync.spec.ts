/**
 * Peer sync from the command line, in separate processes over TCP loopback: `tcomms node --dht`
 * (A), and `tcomms node --dht --seed A` (B), whose network discovery syncs from its seed; then
 * `tcomms rpc --service /tari/dht/1` calls A's PeerSync: GetPeers and GetCloserPeers stream B's
 * claim (protobuf JSON, one line each), a request out of range exits 1 naming BadRequest, and a
 * malformed or misplaced `--seed` is a usage error (exit 2).
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fromHex } from '../../core/bytes.js';
import { nodeIdOf } from '../../core/keys.js';
import { runToEnd, stopProcess, type ProcessResult } from '../support/processes.js';
import { until } from '../support/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'cli', 'tcomms.js');

function run(args: string[], timeoutMs = 60_000): Promise<ProcessResult> {
  return runToEnd(process.execPath, [BIN, ...args], { cwd: ROOT, timeoutMs });
}

interface RunningNode {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  publicKey: string;
  address: string;
}

async function startNode(dataDir: string, extra: string[] = []): Promise<RunningNode> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const child = spawn(process.execPath, [BIN, 'node', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--dht', '--json', ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Array<Record<string, unknown>> = [];
  const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no listening line within 30 s')), 30_000);
    child.on('close', (code) => reject(new Error(`the node exited (${code}) before listening`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      lines.push(parsed);
      if (parsed.event === 'listening') {
        clearTimeout(timer);
        resolve(parsed);
      }
    });
  });
  return { child, lines, publicKey: first.publicKey as string, address: (first.addresses as string[])[0]! };
}

const b64hex = (b64: unknown) => Buffer.from(b64 as string, 'base64').toString('hex');

describe('tcomms rpc --service /tari/dht/1 against tcomms node --dht --seed', function () {
  this.timeout(120_000);
  let dir: string;
  const nodes: RunningNode[] = [];
  before(() => (dir = mkdtempSync(join(tmpdir(), 'tcomms-sync-'))));
  after(async () => {
    for (const n of nodes.splice(0)) await stopProcess(n.child);
    rmSync(dir, { recursive: true, force: true });
  });

  it('B syncs from its seed A; GetPeers and GetCloserPeers on A stream B\'s claim; out of range is BadRequest (exit 1)', async () => {
    const a = await startNode(join(dir, 'a'));
    nodes.push(a);
    const b = await startNode(join(dir, 'b'), ['--seed', `${a.publicKey}@${a.address}`]);
    nodes.push(b);
    // B's first round: one peer (its seed) answered.
    await until('B synced from its seed', () => b.lines.some((l) => l.event === 'network-discovery.round' && (l.succeeded as number) >= 1), 30_000);

    const to = `${a.publicKey}@${a.address}`;
    const peers = await run(['rpc', '--to', to, '--service', '/tari/dht/1', '--method', 'GetPeers', '--request', '{"n":10}', '--json']);
    expect(peers.code, peers.stderr).to.equal(0);
    const claims = peers.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(claims.map((c) => b64hex(c.publicKey))).to.deep.equal([b.publicKey]);
    expect(claims[0]).to.include({ userAgent: 'tcomms-cli/0.1.0' });
    expect((claims[0]!.features as number) & 1, 'a node (feature bit 0)').to.equal(1);
    expect(claims[0]!.signature).to.be.an('object');

    const closerTo = Buffer.from(nodeIdOf(fromHex(b.publicKey))).toString('base64');
    const closer = await run(['rpc', '--to', to, '--service', '/tari/dht/1', '--method', 'GetCloserPeers', '--request', JSON.stringify({ n: 1, closerTo }), '--json']);
    expect(closer.code, closer.stderr).to.equal(0);
    expect(closer.stdout.trim().split('\n').map((l) => b64hex((JSON.parse(l) as Record<string, unknown>).publicKey))).to.deep.equal([b.publicKey]);

    const bad = await run(['rpc', '--to', to, '--service', '/tari/dht/1', '--method', 'GetPeers', '--request', '{"n":1001}']);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.match(/BadRequest/);
  });

  it('--seed needs --dht and PUBKEYHEX@MULTIADDR: exit 2 with one line', async () => {
    const data = join(dir, 'c');
    mkdirSync(data, { recursive: true, mode: 0o700 });
    const key = '00'.repeat(32);
    for (const args of [
      ['node', '--data-dir', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--seed', `${key}@/ip4/127.0.0.1/tcp/1`],
      ['node', '--data-dir', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--dht', '--seed', 'nonsense'],
    ]) {
      const r = await run(args, 30_000);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
    }
  });
});
