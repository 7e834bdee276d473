import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('npm start demo', function () {
  this.timeout(60_000);
  it('runs the handshake, the messages, the checked bulk transfer and the impostor check, exit 0', async () => {
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, ['--import', 'tsx', 'cli/demo.ts'], { cwd: ROOT, timeout: 50_000 }, (err, stdout) =>
        resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout }),
      );
      child.stdin?.end();
    });
    expect(code, stdout).to.equal(0);
    expect(stdout).to.include('alice received: bob got "hello bob" over an encrypted channel');
    expect(stdout).to.include('SHA-256 matches');
    expect(stdout).to.include('refused with DialedPublicKeyMismatch');
  });
});
