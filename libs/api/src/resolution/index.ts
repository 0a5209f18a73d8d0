export * from './effective-config.js';
