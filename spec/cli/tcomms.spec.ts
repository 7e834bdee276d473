/** The `tcomms` command as a person (or another tool) runs it: real processes, exact shapes. */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { closedPort } from '../support/ports.js';
import { requireProgram, runToEnd, startMicrosocks, type ProcessResult } from '../support/processes.js';
import { startTor } from '../support/tor.js';
import { until } from '../support/wait.js';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity } from '../../core/keys.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'cli', 'tcomms.js');

function run(args: string[], timeoutMs = 60_000): Promise<ProcessResult> {
  return runToEnd(process.execPath, [BIN, ...args], { cwd: ROOT, timeoutMs });
}

/** A long-running `tcomms node` (or `inspect`) with its JSON lines. */
async function startNode(args: string[]): Promise<{ child: ChildProcess; lines: Array<Record<string, unknown>>; first: Record<string, unknown>; stopped: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Array<Record<string, unknown>> = [];
  const stopped = new Promise<number | null>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal as unknown as number))));
  const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no listening line within 30 s')), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      lines.push(parsed);
      if (parsed.event === 'listening') {
        clearTimeout(timer);
        resolve(parsed);
      }
    });
  });
  return { child, lines, first, stopped };
}


describe('tcomms command', function () {
  this.timeout(120_000);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'tcomms-cli-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keygen --out writes a 0600 key file and refuses to overwrite it', async () => {
    const file = join(dir, 'id.json');
    const r = await run(['keygen', '--out', file, '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const printed = JSON.parse(r.stdout) as { publicKey: string; nodeId: string };
    expect(printed.publicKey).to.match(/^[0-9a-f]{64}$/);
    expect(printed.nodeId).to.match(/^[0-9a-f]{26}$/);
    expect(JSON.parse(readFileSync(file, 'utf8')).publicKey).to.equal(printed.publicKey);
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    const again = await run(['keygen', '--out', file]);
    expect(again.code).to.equal(2);
    expect(again.stderr.trim().split('\n')).to.have.length(1);
  });

  it('node --echo and send --expect-echo across processes; peers lists the sender; liveness answers; SIGTERM stops it', async () => {
    const data = join(dir, 'node');
    const node = await startNode(['node', '--data-dir', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--echo', '--json']);
    try {
      const to = `${node.first.publicKey as string}@${(node.first.addresses as string[])[0]}`;
      const sent = await run(['send', '--to', to, '--size', '10000', '--count', '50', '--expect-echo', '--json']);
      expect(sent.code, sent.stderr).to.equal(0);
      const summary = JSON.parse(sent.stdout.trim()) as { event: string; count: number; bytes: number; echoed: number };
      expect(summary).to.include({ event: 'sent', count: 50, bytes: 500_000, echoed: 50 });
      const text = await run(['send', '--to', to, '--message', 'hello']);
      expect(text.code, text.stderr).to.equal(0);
      expect(text.stdout).to.match(/^sent 1 message \(5 bytes\) to [0-9a-f]{64} in \d+ ms\n$/);
      await until('the message event', () => node.lines.some((l) => l.event === 'message' && l.body === Buffer.from('hello').toString('base64')), 20_000);
      expect(node.lines.some((l) => l.event === 'peer.connected')).to.equal(true);
      const live = await run(['liveness', (node.first.addresses as string[])[0]!]);
      expect(live.code, live.stderr).to.equal(0);
      expect(live.stdout).to.match(/is live: round trip [\d.]+ ms/);
      const peers = await run(['peers', '--data-dir', data, '--json']);
      expect(peers.code, peers.stderr).to.equal(0);
      expect(peers.stdout.trim().split('\n').map((l) => JSON.parse(l).userAgent)).to.include('tcomms-cli/0.1.0');
    } finally {
      node.child.kill('SIGTERM');
    }
    expect(await node.stopped).to.equal(0);
    expect(node.lines.at(-1)).to.deep.equal({ event: 'stopped' });
    // The key file is reused: same public key on the next start.
    const again = await startNode(['node', '--data-dir', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--json']);
    again.child.kill('SIGINT');
    expect(again.first.publicKey).to.equal(node.first.publicKey);
    expect(again.first.created).to.equal(false);
    expect(await again.stopped).to.equal(0);
  });

  it('node prints one line per received message, in order with its other lines (text), and the message event with the base64 body (--json)', async () => {
    const text = spawn(process.execPath, [BIN, 'node', '--data-dir', join(dir, 'text'), '--listen', '/ip4/127.0.0.1/tcp/0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const textLines: string[] = [];
    const textStopped = new Promise<number | null>((resolve) => text.on('close', (code) => resolve(code)));
    createInterface({ input: text.stdout! }).on('line', (l) => textLines.push(l));
    const json = await startNode(['node', '--data-dir', join(dir, 'json'), '--listen', '/ip4/127.0.0.1/tcp/0', '--json']);
    try {
      await until('the listening line', () => textLines.some((l) => l.startsWith('listening:')), 30_000);
      const publicKey = textLines.find((l) => l.startsWith('public key:'))!.split(/\s+/).at(-1)!;
      const address = textLines.find((l) => l.startsWith('listening:'))!.split(/\s+/).at(-1)!;
      const sent = await run(['send', '--to', `${publicKey}@${address}`, '--size', '1000', '--count', '300', '--json']);
      expect(sent.code, sent.stderr).to.equal(0);
      await until('300 message lines', () => textLines.filter((l) => l.startsWith('message:')).length === 300, 20_000);
      const sender = textLines.find((l) => l.startsWith('connected:'))!.split(/\s+/)[1]!;
      expect(textLines.filter((l) => l.startsWith('message:'))).to.deep.equal(Array.from({ length: 300 }, () => `message:      1000 bytes from ${sender}`));
      expect(textLines.findIndex((l) => l.startsWith('connected:'))).to.be.below(textLines.findIndex((l) => l.startsWith('message:')));

      const body = Buffer.from('héllo wörld ✓');
      const to = `${json.first.publicKey as string}@${(json.first.addresses as string[])[0]}`;
      const one = await run(['send', '--to', to, '--message', body.toString(), '--json']);
      expect(one.code, one.stderr).to.equal(0);
      await until('the message event', () => json.lines.some((l) => l.event === 'message'), 20_000);
      const from = (json.lines.find((l) => l.event === 'peer.connected') as { publicKey: string }).publicKey;
      expect(json.lines.filter((l) => l.event === 'message')).to.deep.equal([{ event: 'message', from, size: body.length, body: body.toString('base64') }]);
    } finally {
      text.kill('SIGTERM');
      json.child.kill('SIGTERM');
    }
    expect(await textStopped).to.equal(0);
    expect(textLines.at(-1)).to.equal('stopped');
    expect(await json.stopped).to.equal(0);
  });

  it('mistakes print one clear line and a non-zero exit, no stack trace', async () => {
    const key = toHex(NodeIdentity.generate().publicKey);
    const cases: Array<[string[], number, RegExp]> = [
      [['send', '--to', `${key}@/ip4/1.2.3/tcp/1`, '--message', 'x'], 2, /bad multiaddr/],
      [['send', '--to', `nothex@/ip4/127.0.0.1/tcp/1`, '--message', 'x'], 2, /bad public key/],
      [['node', '--listen', 'garbage'], 2, /bad multiaddr/],
      [['nonsense'], 2, /unknown command/],
      [['constructor'], 2, /unknown command/], // a name every object has is not a command
      [['toString'], 2, /unknown command/],
      [['send', '--to', `${key}@/ip4/127.0.0.1/tcp/${await closedPort()}`, '--message', 'x'], 1, /not written.*(Refused|Exhausted|refused)/i],
    ];
    for (const [args, code, message] of cases) {
      const r = await run(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(code);
      const out = (r.stderr + r.stdout).trim();
      expect(out, args.join(' ')).to.match(message);
      expect(out).to.not.match(/\n\s+at /); // no stack
    }
  });

  it('a port in use is one line and exit 1', async () => {
    const node = await startNode(['node', '--data-dir', join(dir, 'a'), '--listen', '/ip4/127.0.0.1/tcp/0', '--json']);
    try {
      const r = await run(['node', '--data-dir', join(dir, 'b'), '--listen', (node.first.addresses as string[])[0]!]);
      expect(r.code).to.equal(1);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.match(/NodeStartFailed|in use/);
    } finally {
      node.child.kill('SIGTERM');
      await node.stopped;
    }
  });

  it('inspect shows the whole actor system from start-up: the components, then one connect actor by actor and event by event', async () => {
    const peer = await startNode(['node', '--data-dir', join(dir, 'p'), '--listen', '/ip4/127.0.0.1/tcp/0', '--json']);
    const node = await startNode(['inspect', '--data-dir', join(dir, 'i'), '--listen', '/ip4/127.0.0.1/tcp/0', '--peer', `${peer.first.publicKey as string}@${(peer.first.addresses as string[])[0]}`]);
    try {
      const nodeId = (peer.first.nodeId as string).toLowerCase();
      const steps = (lines: Array<Record<string, unknown>>) =>
        lines.flatMap((l) => (l.inspect === 'actor' ? [`actor ${l.actor as string}`] : l.inspect === 'event' ? [`${l.event as string} -> ${l.actor as string}`] : []));
      // Start-up, then the connect to the peer given with --peer, in this order (other lines between).
      const expected = [
        'actor commsNode',
        'node.start -> commsNode',
        'actor identity',
        'actor peerManager',
        'actor connectivity',
        'actor connectionManager',
        'actor dialer',
        'actor listener',
        'actor messaging',
        'listener.listening -> commsNode',
        'identity.addresses-bound -> identity',
        'connection-manager.dial -> connectionManager',
        'dial.request -> dialer',
        `actor dial:${nodeId}`,
        'peer.find -> peerManager',
        `peer-manager.reply -> dial:${nodeId}`,
        'actor attempt',
        `xstate.done.actor.attempt -> dial:${nodeId}`,
        'dial.succeeded -> dialer',
        'dial.reply -> connectionManager',
        'host.start -> peerConnections',
        `actor peerConnection:${nodeId}`,
        'peer.connected -> connectivity',
      ];
      const inOrder = () => {
        let i = 0;
        for (const s of steps(node.lines)) if (s === expected[i]) i++;
        return i;
      };
      await until('the connect in the inspection stream', () => inOrder() === expected.length, 20_000).catch(() => {
        throw new Error(`stopped at ${JSON.stringify(expected[inOrder()])}; seen: ${steps(node.lines).join(', ')}`);
      });
      // Actions appear by their chart names (the peer manager's store results go through `indexBans`).
      expect(node.lines.some((l) => l.inspect === 'action' && l.actor === 'peerManager' && l.action === 'indexBans')).to.equal(true);
    } finally {
      node.child.kill('SIGINT');
      peer.child.kill('SIGINT');
      await Promise.all([node.stopped, peer.stopped]);
    }
  });

  it('send --proxy (with --proxy-all) reaches a node through a real SOCKS5 proxy', async function () {
    requireProgram(this, 'microsocks');
    const proxy = await startMicrosocks({ username: 'bench', password: 's3cret' });
    const node = await startNode(['node', '--data-dir', join(dir, 'p'), '--listen', '/ip4/127.0.0.1/tcp/0', '--json']);
    try {
      const to = `${node.first.publicKey as string}@${(node.first.addresses as string[])[0]}`;
      const r = await run(['send', '--to', to, '--message', 'via socks', '--proxy', `socks5://bench:s3cret@127.0.0.1:${proxy.port}`, '--proxy-all']);
      expect(r.code, r.stderr).to.equal(0);
      await until('the message', () => node.lines.some((l) => l.event === 'message' && l.body === Buffer.from('via socks').toString('base64')), 20_000);
      const bad = await run(['send', '--to', to, '--message', 'x', '--proxy', `socks5://bench:wrong@127.0.0.1:${proxy.port}`, '--proxy-all']);
      expect(bad.code).to.equal(1);
      expect(bad.stderr + bad.stdout).to.match(/Socks5AuthFailed/);
    } finally {
      node.child.kill('SIGTERM');
      await node.stopped;
      await proxy.stop();
    }
  });

  it('node --tor-control listens as an onion service whose address survives a restart (offline Tor)', async function () {
    requireProgram(this, 'tor');
    const tor = await startTor({ password: 'tor-pw' });
    try {
      const args = ['node', '--data-dir', join(dir, 't'), '--listen', '/ip4/127.0.0.1/tcp/0', '--tor-control', `127.0.0.1:${tor.controlPort}`, '--tor-password', 'tor-pw', '--onion-port', '18141', '--json'];
      const first = await startNode(args);
      first.child.kill('SIGTERM');
      expect(await first.stopped).to.equal(0);
      const onion = (first.first.addresses as string[])[0]!;
      expect(onion).to.match(/^\/onion3\/[a-z2-7]{56}:18141$/);
      const second = await startNode(args);
      second.child.kill('SIGTERM');
      expect(await second.stopped).to.equal(0);
      expect((second.first.addresses as string[])[0]).to.equal(onion);
    } finally {
      await tor.stop();
    }
  });
});

