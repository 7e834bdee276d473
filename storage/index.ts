export * from './peer.js';
export * from './peer-store.js';
export * from './errors.js';
export { MemoryPeerStore } from './memory-store.js';
export { LmdbPeerStore, type LmdbPeerStoreInit } from './lmdb-store.js';
export { closestByPrefix } from './closest.js';
