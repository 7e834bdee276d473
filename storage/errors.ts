/** Typed storage errors (kind `storage`): the peer store, then the store-and-forward store. Nothing here ever wipes data to get past an error. */
import { TcommsError } from '../core/errors.js';

/** A peer-store operation failed (kind `storage`). */
export abstract class StorageError extends TcommsError {
  readonly kind = 'storage' as const;
}

/** The file at the store path is not a readable LMDB environment, or a record does not decode. */
export class PeerStoreCorrupt extends StorageError {
  constructor(
    readonly path: string,
    readonly detail: string,
    init: { cause?: unknown } = {},
  ) {
    super(`peer store at ${path} is unreadable (${detail}); it was left untouched: move it away or restore a backup`, init);
  }
}

/** A valid LMDB environment that is not a tcomms peer store. */
export class PeerStoreForeign extends StorageError {
  constructor(readonly path: string) {
    super(`${path} holds an LMDB database that is not a tcomms peer store; it was left untouched`);
  }
}

/** The store was written by a newer tcomms (schema version above this code's). */
export class PeerStoreTooNew extends StorageError {
  constructor(
    readonly path: string,
    readonly version: number,
    readonly supported: number,
  ) {
    super(`peer store at ${path} has schema version ${version}; this tcomms reads up to ${supported}`);
  }
}

/** Another store of this process has the LMDB directory open (two nodes given one data directory?). */
export class StoreInUse extends StorageError {
  constructor(
    readonly path: string,
    readonly what: string,
  ) {
    super(`the ${what} at ${path} is already open in this process: give each node its own data directory`);
  }
}

/** An operation on a closed store. */
export class PeerStoreClosed extends StorageError {
  constructor() {
    super('the peer store is closed');
  }
}

/** A write failed in LMDB (disk full, map full, I/O error). */
export class PeerStoreWriteFailed extends StorageError {}

// --- Store-and-forward store (saf-store.ts) ---------------------------------------------------

/** The file at the SAF store path is not a readable LMDB environment, or a record does not decode. */
export class SafStoreCorrupt extends StorageError {
  constructor(
    readonly path: string,
    readonly detail: string,
    init: { cause?: unknown } = {},
  ) {
    super(`store-and-forward store at ${path} is unreadable (${detail}); it was left untouched: move it away (it holds only others' messages in transit)`, init);
  }
}

/** A valid LMDB environment that is not a tcomms store-and-forward store. */
export class SafStoreForeign extends StorageError {
  constructor(readonly path: string) {
    super(`${path} holds an LMDB database that is not a tcomms store-and-forward store; it was left untouched`);
  }
}

/** The SAF store was written by a newer tcomms (schema version above this code's). */
export class SafStoreTooNew extends StorageError {
  constructor(
    readonly path: string,
    readonly version: number,
    readonly supported: number,
  ) {
    super(`store-and-forward store at ${path} has schema version ${version}; this tcomms reads up to ${supported}`);
  }
}

/** An operation on a closed SAF store. */
export class SafStoreClosed extends StorageError {
  constructor() {
    super('the store-and-forward store is closed');
  }
}

/** A SAF store write failed in LMDB (disk full, map full, I/O error); nothing of it was written. */
export class SafStoreWriteFailed extends StorageError {}
