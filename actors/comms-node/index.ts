export * from './comms-node.events.js';
export * from './comms-node.machine.js';
export * from './comms-node.logic.js';
export * from './components.js';
export * from './config.js';
export * from './resources.js';
