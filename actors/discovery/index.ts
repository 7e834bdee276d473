export * from './discovery.events.js';
export * from './discovery.machine.js';
export * from './discovery.logic.js';
export * from './claims.js';
