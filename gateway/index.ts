export { createGateway, Gateway, type GatewayAddresses } from './gateway.ts';
