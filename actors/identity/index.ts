export * from './identity.events.js';
export * from './identity.machine.js';
export * from './identity.logic.js';
