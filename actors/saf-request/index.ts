export * from './saf-request.events.js';
export * from './saf-request.machine.js';
export * from './saf-request.logic.js';
