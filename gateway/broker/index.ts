export { Broker, type BrokerOptions, type ListenAddresses } from './broker.ts';
export { authorizePublish, authorizeSubscribe, authorizeForward, type Identity } from './acl.ts';
