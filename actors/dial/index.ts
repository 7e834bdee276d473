export * from './dial.events.js';
export * from './dial.machine.js';
export * from './dial.logic.js';
export * from './dial-errors.js';
