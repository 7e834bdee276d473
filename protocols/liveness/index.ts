export * from './line-echo.js';
