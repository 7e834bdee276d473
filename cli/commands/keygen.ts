/** `tcomms keygen [--out FILE]`: a new identity; prints its public key and NodeId. */
import { existsSync } from 'node:fs';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity } from '../../core/keys.js';
import { parseArgs, UsageError } from '../args.js';
import { writeKeyFile } from '../keyfile.js';

/** Runs `tcomms keygen`. */
export async function keygen(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { out: 'string', json: 'flag' });
  const identity = NodeIdentity.generate();
  const out = args.options.out as string | undefined;
  if (out) {
    if (existsSync(out)) throw new UsageError(`${out} exists: not overwriting a key file`);
    writeKeyFile(out, identity);
  }
  const fields = { publicKey: toHex(identity.publicKey), nodeId: toHex(identity.nodeId), ...(out ? { file: out } : { seed: toHex(identity.exportSeed()) }) };
  if (args.options.json) process.stdout.write(`${JSON.stringify(fields)}\n`);
  else {
    process.stdout.write(`public key: ${fields.publicKey}\nnode id:    ${fields.nodeId}\n`);
    process.stdout.write(out ? `key file:   ${out} (mode 0600)\n` : `seed:       ${toHex(identity.exportSeed())} (keep it secret; --out FILE writes a key file)\n`);
  }
  return 0;
}
