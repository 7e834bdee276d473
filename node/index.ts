export * from './config.js';
export * from './comms-node.js';
export * from './comms-builder.js';
