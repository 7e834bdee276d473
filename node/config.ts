/** The node's configuration (defined beside the root actor, which it configures). */
export * from '../actors/comms-node/config.js';
