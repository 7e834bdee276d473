export * from './connection-manager.events.js';
export * from './connection-manager.machine.js';
export * from './connection-manager.logic.js';
export * from './tie-break.js';
export * from './sighting.js';
