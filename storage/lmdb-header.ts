/**
 * A check of an LMDB data file's two meta pages before LMDB maps it. LMDB trusts its file: a
 * garbage or truncated `data.mdb` makes the native library crash the process (seen: SIGSEGV on a
 * file of repeated bytes), which would be a crash loop for a node. So the store reads the meta
 * pages itself first: the P_META flag, the magic 0xBEEFC0DE, the data version, a power-of-two
 * page size, and a file long enough for the newest meta's last page. Corruption deeper inside a
 * well-formed file cannot be seen this way (LMDB keeps no page checksums).
 *
 * Offsets are those of the LMDB build in lmdb-js 3 (24-byte page header; meta fields after it).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const PAGE_HEADER = 0x18;
const P_META = 0x08;
const MAGIC = 0xbeefc0de;
const FLAGS_AT = 0x12;
const PSIZE_AT = PAGE_HEADER + 0x18; // mm_dbs[0].md_pad holds the page size
const LAST_PG_AT = PAGE_HEADER + 0x78;
const TXNID_AT = PAGE_HEADER + 0x80;

/** Why the data file cannot be an LMDB file, or undefined when its meta pages are sound. */
export function lmdbHeaderProblem(file: string): string | undefined {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const first = Buffer.alloc(PAGE_HEADER + 0x90);
    if (readSync(fd, first, 0, first.length, 0) < first.length) return `data file of ${size} bytes is too short`;
    const psize = first.readUInt32LE(PSIZE_AT);
    if (psize < 512 || psize > 65536 || (psize & (psize - 1)) !== 0) return 'no LMDB page size in the first meta page';
    if (size < 2 * psize) return `data file of ${size} bytes is shorter than two pages`;
    let newest: { txnid: bigint; lastPage: bigint } | undefined;
    for (const index of [0, 1]) {
      const meta = Buffer.alloc(first.length);
      readSync(fd, meta, 0, meta.length, index * psize);
      if ((meta.readUInt16LE(FLAGS_AT) & P_META) === 0) return `page ${index} is not an LMDB meta page`;
      if (meta.readUInt32LE(PAGE_HEADER) !== MAGIC) return `page ${index} lacks the LMDB magic number`;
      const version = meta.readUInt32LE(PAGE_HEADER + 4);
      if (version !== 1 && version !== 2) return `LMDB data version ${version}`;
      const txnid = meta.readBigUInt64LE(TXNID_AT);
      if (!newest || txnid > newest.txnid) newest = { txnid, lastPage: meta.readBigUInt64LE(LAST_PG_AT) };
    }
    if ((newest!.lastPage + 1n) * BigInt(psize) > BigInt(size)) return `data file is truncated (${size} bytes, needs ${(newest!.lastPage + 1n) * BigInt(psize)})`;
    return undefined;
  } finally {
    closeSync(fd);
  }
}
