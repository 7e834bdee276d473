export * from './saf.events.js';
export * from './saf.machine.js';
export * from './saf.logic.js';
export * from './saf-config.js';
export * from './saf-service.js';
export * from './saf-stats.js';
export * from './errors.js';
