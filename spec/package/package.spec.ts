/**
 * The package as a user installs it: `npm run build` (what `prepare` runs on install) makes
 * `dist/`, and a project outside this one imports `tcomms` by name through the exports map, in
 * JavaScript and in TypeScript, runs two nodes that exchange a message (the default X25519
 * service loads its compiled worker), and runs the `tcomms` binary. `npm pack` ships `dist/`
 * without the benchmarks and the tests.
 */
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runToEnd } from '../support/processes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs a command to completion (killed after `timeoutMs`). */
const run = (command: string, args: string[], cwd: string, timeoutMs: number) => runToEnd(command, args, { cwd, timeoutMs });

const CONSUMER_JS = `
import { CommsBuilder, NodeIdentity, TcommsError, nodeIdOf } from 'tcomms';

const make = (listen) => {
  const b = new CommsBuilder().withNodeIdentity(NodeIdentity.generate());
  if (listen) b.withListenAddress('/ip4/127.0.0.1/tcp/0');
  return b.build();
};
const a = make(true);
const b = make(false);
const timer = setTimeout(() => { console.error('timed out'); process.exit(3); }, 20_000);
const got = new Promise((resolve) => a.on('message', resolve));
await a.start();
await b.start();
const hex = Buffer.from(a.publicKey).toString('hex');
await b.addPeer(hex, [String(a.listenAddresses[0])]);
const outcome = await b.send(hex, Buffer.from('hello from the package'));
const m = await got;
clearTimeout(timer);
console.log(JSON.stringify({
  ok: outcome.ok,
  body: Buffer.from(m.body).toString(),
  from: Buffer.from(m.from).toString('hex') === Buffer.from(b.publicKey).toString('hex'),
  nodeId: nodeIdOf(a.publicKey).length,
  errors: typeof TcommsError,
}));
await b.stop();
await a.stop();
process.exit(0);
`;

const CONSUMER_TS = `
import { CommsBuilder, NodeIdentity, nodeIdOf, type CommsNode, type PublicKey, type PeerConnectionActor } from 'tcomms';
import { NoiseSecureChannel, noiseStaticKeys } from 'tcomms/secure-channel';
import { YamuxMuxer, negotiateOutbound } from 'tcomms/muxer';
import { MemoryTransport, TcpTransport, type Transport } from 'tcomms/transports';
import { MACHINES, mermaidOf, dialMachine } from 'tcomms/machines';
import { RpcError, RpcStatus, NodeInfo, type RpcClient } from 'tcomms/rpc';

const node: CommsNode = new CommsBuilder().withNodeIdentity(NodeIdentity.generate()).withTransport(new TcpTransport()).build();
const key: PublicKey = node.publicKey;
export const id: Uint8Array = nodeIdOf(key);
export const actor: PeerConnectionActor | undefined = node.connection(key);
export const channel = new NoiseSecureChannel({ staticKeys: noiseStaticKeys(NodeIdentity.generate()) });
export const transports: Transport[] = [new MemoryTransport()];
export const chart: string = mermaidOf(dialMachine);
export const count: number = MACHINES.length;
export { YamuxMuxer, negotiateOutbound };
export const failure = new RpcError(RpcStatus.NotFound, 'no such peer');
export async function uptime(n: CommsNode, peer: PublicKey): Promise<bigint> {
  const info: RpcClient<typeof NodeInfo> = await n.rpc(peer, NodeInfo);
  return (await info.getInfo({}, { deadlineMs: 1_000 })).uptimeMs;
}
`;

/** The documented entry points, each with names it must export. */
const ENTRY_POINTS: Record<string, string[]> = {
  tcomms: ['CommsBuilder', 'CommsNode', 'NodeIdentity', 'TcommsError', 'nodeIdOf'],
  'tcomms/secure-channel': ['NoiseSecureChannel', 'noiseStaticKeys', 'cryptoProvider'],
  'tcomms/muxer': ['YamuxMuxer', 'YamuxStream', 'negotiateOutbound', 'negotiateInbound', 'MemoryBudget'],
  'tcomms/transports': ['TcpTransport', 'MemoryTransport', 'Socks5Transport', 'TcpWithTorTransport', 'TorTransport'],
  'tcomms/rpc': ['RpcError', 'RpcStatus', 'NodeInfo', 'RpcOpenFailed', 'defineRpcService'],
  'tcomms/machines': ['MACHINES', 'mermaidOf', 'chartFiles', 'commsNodeMachine', 'dialMachine'],
};

/** Internal modules: not part of the API, not importable. */
const INTERNAL = ['tcomms/core/keys.js', 'tcomms/actors/dial/index.js', 'tcomms/dist/node/index.js', 'tcomms/node/comms-node.js', 'tcomms/protocols/noise/index.js'];

describe('the built package', function () {
  this.timeout(180_000);
  let dir: string;

  before(async function () {
    const build = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], ROOT, 150_000);
    expect(build.code, build.stdout + build.stderr).to.equal(0);
    // A project of its own that has tcomms installed (as npm links a local package).
    dir = mkdtempSync(join(tmpdir(), 'tcomms-consumer-'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(ROOT, join(dir, 'node_modules', 'tcomms'), 'dir');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('imports by name from JavaScript and two nodes exchange a message', async () => {
    writeFileSync(join(dir, 'consumer.mjs'), CONSUMER_JS);
    const r = await run(process.execPath, ['consumer.mjs'], dir, 60_000);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).to.deep.equal({ ok: true, body: 'hello from the package', from: true, nodeId: 13, errors: 'function' });
  });

  it('exports the documented entry points, and nothing else: internal modules are not importable', async () => {
    const probe = `
const out = {};
for (const [name, expected] of Object.entries(${JSON.stringify(ENTRY_POINTS)})) {
  const m = await import(name);
  out[name] = expected.filter((k) => !(k in m));
}
for (const name of ${JSON.stringify(INTERNAL)}) {
  try { await import(name); out[name] = 'importable'; } catch (err) { out[name] = err.code; }
}
console.log(JSON.stringify(out));
process.exit(0);
`;
    writeFileSync(join(dir, 'probe.mjs'), probe);
    const r = await run(process.execPath, ['probe.mjs'], dir, 60_000);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    for (const name of Object.keys(ENTRY_POINTS)) expect(out[name], `${name} lacks`).to.deep.equal([]);
    for (const name of INTERNAL) expect(out[name], name).to.equal('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('type-checks a TypeScript consumer against the declarations the exports map names', async () => {
    writeFileSync(join(dir, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['consumer.ts'] }),
    );
    const ok = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], dir, 120_000);
    expect(ok.code, ok.stdout + ok.stderr).to.equal(0);
    // And the check can fail: a wrong type is an error.
    writeFileSync(join(dir, 'consumer.ts'), `${CONSUMER_TS}\nexport const wrong: string = nodeIdOf(key);\n`);
    const bad = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], dir, 120_000);
    expect(bad.code).to.not.equal(0);
    expect(bad.stdout).to.match(/TS2322/);
    // An internal module is not part of the typed API either.
    writeFileSync(join(dir, 'consumer.ts'), `${CONSUMER_TS}\nimport { nodeIdOf as internal } from 'tcomms/core/keys.js';\nexport { internal };\n`);
    const internal = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], dir, 120_000);
    expect(internal.code).to.not.equal(0);
    expect(internal.stdout).to.match(/TS2307|TS2834|TS2835/);
  });

  it('runs the tcomms binary from dist', async () => {
    const out = join(dir, 'node.key');
    const r = await run(process.execPath, [join(ROOT, 'dist', 'cli', 'bin.js'), 'keygen', '--out', out], dir, 60_000);
    expect(r.code, r.stderr).to.equal(0);
    expect(existsSync(out)).to.equal(true);
    const bad = await run(process.execPath, [join(ROOT, 'dist', 'cli', 'bin.js'), 'node', '--listen', 'not-a-multiaddr'], dir, 60_000);
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr.trim().split('\n')).to.have.length(1);
  });

  it('packs dist/ without the benchmarks, the tests or the sources', async () => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const r = await run(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT, 120_000);
    expect(r.code, r.stderr).to.equal(0);
    const files = (JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    for (const f of ['package.json', 'README.md', 'dist/node/index.js', 'dist/node/index.d.ts', 'dist/cli/bin.js', 'dist/workers/worker.js', 'proto/tcomms/identity.proto']) expect(files).to.include(f);
    expect(files.filter((f) => /^(dist\/(bench|spec)|spec|bench|scratch|node_modules)\//.test(f) || f.endsWith('.ts') && !f.endsWith('.d.ts'))).to.deep.equal([]);
  });
});
