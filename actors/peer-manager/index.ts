export * from './peer-manager.events.js';
export * from './peer-manager.machine.js';
export * from './peer-manager.logic.js';
