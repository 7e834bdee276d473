export * from './connectivity.events.js';
export * from './connectivity.machine.js';
export * from './connectivity.logic.js';
