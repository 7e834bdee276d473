export * from './listener.events.js';
export * from './listener.machine.js';
export * from './listener.logic.js';
export * from './admission.js';
