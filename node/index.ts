export * from './config.js';
export * from './comms-node.js';
export * from './comms-builder.js';
// What an embedder needs beside the node: its identity and keys, and the typed errors.
export { NodeIdentity, nodeIdOf, publicKeyFromHex, type NodeId, type PublicKey } from '../core/keys.js';
export { TcommsError, isErrorKind, type ErrorKind } from '../core/errors.js';
