/**
 * The DHT from the command line, in separate processes over TCP loopback: three `tcomms node
 * --dht` in a line (A - B - C), and `tcomms dht send --discover --encrypt` from a client
 * connected to A that reaches C's `dht.message`. The client's DISCOVERY is sealed for C and
 * propagated A -> B -> C by nodes that cannot read it; C answers directly (dialing the client),
 * and the encrypted message goes over that connection. Then `tcomms dht discover` prints C's
 * claim. The keys are chosen so that B is closer to C than A is (Propagate sends only to nodes
 * closer to the destination than the forwarder, PROTOCOL.md 9.6). Store-and-forward: a message
 * sent to a node while it is down is kept by its neighbour and printed, late, when it is back.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { toHex } from '../../core/bytes.js';
import { compareDistance, distance, NodeIdentity } from '../../core/keys.js';
import { writeKeyFile } from '../../cli/keyfile.js';
import { runToEnd, type ProcessResult } from '../support/processes.js';
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
  stopped: Promise<number | null>;
}

/** A `tcomms node --dht --json` with its JSON lines, once it is listening. */
async function startNode(dataDir: string, extra: string[] = []): Promise<RunningNode> {
  const child = spawn(process.execPath, [BIN, 'node', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--dht', '--json', ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Array<Record<string, unknown>> = [];
  const stopped = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
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
  return { child, lines, publicKey: first.publicKey as string, address: (first.addresses as string[])[0]!, stopped };
}

/** Three identities where B is closer to C than A is. */
function lineIdentities(): [NodeIdentity, NodeIdentity, NodeIdentity] {
  for (;;) {
    const [a, b, c] = [NodeIdentity.generate(), NodeIdentity.generate(), NodeIdentity.generate()];
    if (compareDistance(distance(b.nodeId, c.nodeId), distance(a.nodeId, c.nodeId)) < 0) return [a, b, c];
  }
}

describe('tcomms dht (separate processes, TCP loopback)', function () {
  this.timeout(120_000);
  let dir: string;
  const nodes: RunningNode[] = [];
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'tcomms-dht-'))));
  afterEach(async () => {
    for (const n of nodes.splice(0)) n.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  async function nodeWith(identity: NodeIdentity, name: string, peer?: RunningNode): Promise<RunningNode> {
    const data = join(dir, name);
    mkdirSync(data, { recursive: true, mode: 0o700 });
    writeKeyFile(join(data, 'identity.json'), identity);
    const n = await startNode(data, peer ? ['--peer', `${peer.publicKey}@${peer.address}`] : []);
    nodes.push(n);
    return n;
  }

  it('three nodes in a line: dht send --discover --encrypt from one end reaches the other end\'s dht.message; dht discover prints the claim', async () => {
    const [ia, ib, ic] = lineIdentities();
    const a = await nodeWith(ia, 'a');
    const b = await nodeWith(ib, 'b', a);
    const c = await nodeWith(ic, 'c', b);
    await until('B is connected to A and C', () => b.lines.filter((l) => l.event === 'peer.connected').length === 2, 30_000);
    const text = 'hello over the dht';
    const sent = await run(['dht', 'send', '--via', `${a.publicKey}@${a.address}`, '--to', c.publicKey, '--message', text, '--discover', '--encrypt', '--json', '--timeout', '30000']);
    expect(sent.code, sent.stderr + sent.stdout).to.equal(0);
    const summary = JSON.parse(sent.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(summary).to.include({ event: 'dht.sent', to: c.publicKey, discovered: true, encrypted: true, strategy: 'direct' });
    await until('C prints the dht.message', () => c.lines.some((l) => l.event === 'dht.message'), 20_000);
    expect(c.lines.filter((l) => l.event === 'dht.message')).to.deep.equal([
      { event: 'dht.message', origin: null, destination: c.publicKey, type: 1, encrypted: true, body: Buffer.from(text).toString('base64') },
    ]);
    // Neither A nor B could read it, nor saw a message for them.
    expect([...a.lines, ...b.lines].some((l) => l.event === 'dht.message')).to.equal(false);

    const found = await run(['dht', 'discover', c.publicKey, '--via', `${a.publicKey}@${a.address}`, '--json', '--timeout', '30000']);
    expect(found.code, found.stderr + found.stdout).to.equal(0);
    const claim = JSON.parse(found.stdout.trim()) as Record<string, unknown>;
    // A `tcomms node --dht` forwards (bit 0) and stores for others (bit 1).
    expect(claim).to.include({ event: 'dht.discovered', publicKey: c.publicKey, features: 3, userAgent: 'tcomms-cli/0.1.0' });
    expect(claim.addresses).to.deep.equal([c.address]);
    expect(toHex(ic.publicKey)).to.equal(c.publicKey);
  });

  it('a signed message names its origin; mistakes are one line with exit 2', async () => {
    const [ia, , ic] = lineIdentities();
    const a = await nodeWith(ia, 'a');
    const c = await nodeWith(ic, 'c', a);
    await until('C is connected to A', () => c.lines.some((l) => l.event === 'peer.connected'), 30_000);
    const sent = await run(['dht', 'send', '--via', `${a.publicKey}@${a.address}`, '--to', c.publicKey, '--size', '100', '--sign', '--json']);
    expect(sent.code, sent.stderr + sent.stdout).to.equal(0);
    await until('C prints the dht.message', () => c.lines.some((l) => l.event === 'dht.message'), 20_000);
    const m = c.lines.find((l) => l.event === 'dht.message')!;
    expect(m).to.include({ destination: c.publicKey, type: 1, encrypted: false });
    expect(m.origin).to.match(/^[0-9a-f]{64}$/);
    expect(Buffer.from(m.body as string, 'base64')).to.have.length(100);
    // A destination nobody knows: the discovery times out, exit 1 with the reason.
    const nobody = toHex(NodeIdentity.generate().publicKey);
    const lost = await run(['dht', 'send', '--via', `${a.publicKey}@${a.address}`, '--to', nobody, '--message', 'x', '--discover', '--json', '--timeout', '2000']);
    expect(lost.code, lost.stderr + lost.stdout).to.equal(1);
    expect(JSON.parse(lost.stdout.trim().split('\n').at(-1)!)).to.have.nested.property('error.name', 'DiscoveryTimeout');
    for (const args of [['dht', 'send', '--to', c.publicKey, '--message', 'x'], ['dht', 'discover', '--via', `${a.publicKey}@${a.address}`], ['dht', 'nonsense']]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
    }
  });

  it('store-and-forward: a message sent while a node is down reaches it, late, when it comes back', async () => {
    const [is, , id] = lineIdentities();
    const s = await nodeWith(is, 's');
    const d = await nodeWith(id, 'd', s);
    await until('D asked S, which had nothing yet', () => d.lines.some((l) => l.event === 'saf.request-ended'), 30_000);
    expect(d.lines.find((l) => l.event === 'saf.request-ended')).to.include({ publicKey: s.publicKey, outcome: 'answered', messages: 0 });
    d.child.kill('SIGTERM');
    expect(await d.stopped).to.equal(0);
    const text = 'kept for you';
    const sent = await run(['dht', 'send', '--via', `${s.publicKey}@${s.address}`, '--to', d.publicKey, '--message', text, '--encrypt', '--json', '--timeout', '30000']);
    expect(sent.code, sent.stderr + sent.stdout).to.equal(0);
    // D again, from its data directory (the same key, its stored peers and since).
    const back = await startNode(join(dir, 'd'), ['--peer', `${s.publicKey}@${s.address}`]);
    nodes.push(back);
    await until('D prints the message', () => back.lines.some((l) => l.event === 'dht.message'), 30_000);
    const m = back.lines.find((l) => l.event === 'dht.message')!;
    expect(m).to.include({ destination: d.publicKey, encrypted: true, late: true, body: Buffer.from(text).toString('base64') });
    expect(m.storedAt).to.be.within(Math.floor(Date.now() / 1000) - 120, Math.floor(Date.now() / 1000) + 1);
    await until('its request ended', () => back.lines.some((l) => l.event === 'saf.request-ended'), 30_000);
    expect(back.lines.find((l) => l.event === 'saf.request-ended')).to.include({ outcome: 'answered', messages: 1 });
  });
});
