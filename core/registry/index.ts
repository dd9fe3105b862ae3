export { Registry, type NewDevice } from './registry.ts';
export { hashSecret, verifySecret, newSecret } from './secrets.ts';
