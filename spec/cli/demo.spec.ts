import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('npm start demo', function () {
  this.timeout(90_000);
  it('starts five nodes with LMDB stores, connects them, delivers every message intact; then the DHT: discovery from a seed, a sealed message, store-and-forward; prints a summary, exit 0', async () => {
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, ['--import', 'tsx', 'cli/demo.ts'], { cwd: ROOT, timeout: 80_000 }, (err, stdout) =>
        resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout }),
      );
      child.stdin?.end();
    });
    expect(code, stdout).to.equal(0);
    expect(stdout).to.match(/connections:\s+10\n/);
    expect(stdout).to.match(/messages delivered:\s+8005\/8005, checksums all match, 0 failed to send/);
    expect(stdout).to.match(/throughput:\s+[\d.]+ MiB\/s/);
    expect(stdout).to.include('[##############################] 8005/8005 messages');
    // The DHT: nodes that knew only the seed, a discovery and a sealed message, store-and-forward.
    expect(stdout).to.match(/DHT nodes:\s+6 \(1 seed, 3 nodes with propagation and store-and-forward, 2 wallets\), each started knowing only the seed/);
    expect(stdout).to.match(/DHT discovery:\s+wallet A found wallet B in \d+ ms and its sealed message arrived/);
    expect(stdout).to.match(/store-and-forward:\s+a message sent while wallet B was offline reached it once it came back \(late\)/);
  });
});
