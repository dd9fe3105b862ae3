export { CHECK_EVERY_MS, Registry, type NewDevice, type ConsentActor, type ConsumerAccess } from './registry.ts';
export { hashSecret, verifySecret, newSecret } from './secrets.ts';
