export { buildHttpApp, type StatusSource } from './app.ts';
