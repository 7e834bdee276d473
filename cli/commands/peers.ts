/** `tcomms peers [--data-dir DIR] [--json]`: the peers stored in a node's LMDB peer store. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { toHex } from '../../core/bytes.js';
import { isBanned } from '../../storage/peer.js';
import { LmdbPeerStore } from '../../storage/lmdb-store.js';
import { parseArgs, UsageError } from '../args.js';

/** Runs `tcomms peers`. */
export async function peersCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { 'data-dir': 'string', json: 'flag' });
  const dataDir = (args.options['data-dir'] as string | undefined) ?? '.tcomms';
  const path = join(dataDir, 'peers');
  if (!existsSync(path)) throw new UsageError(`no peer store in ${dataDir} (run \`tcomms node --data-dir ${dataDir}\` first)`);
  const store = await LmdbPeerStore.open({ path });
  try {
    const now = Date.now();
    const peers = await store.all();
    for (const p of peers) {
      const fields = {
        publicKey: toHex(p.publicKey),
        nodeId: toHex(p.nodeId),
        userAgent: p.userAgent,
        addresses: p.addresses.map((a) => a.address),
        banned: isBanned(p, now),
        ...(p.bannedUntil ? { bannedUntil: new Date(p.bannedUntil).toISOString(), banReason: p.banReason } : {}),
      };
      if (args.options.json) process.stdout.write(`${JSON.stringify(fields)}\n`);
      else process.stdout.write(`${fields.publicKey}  ${fields.userAgent || '-'}  ${fields.addresses.join(' ') || '-'}${fields.banned ? `  BANNED (${p.banReason})` : ''}\n`);
    }
    if (!args.options.json) process.stdout.write(`${peers.length} peer${peers.length === 1 ? '' : 's'}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
