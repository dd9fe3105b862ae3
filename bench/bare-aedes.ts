// A bare Aedes broker: the same aedes package as the gateway, without authentication,
// validation or spool. The ingest benchmark's baseline: what routing alone costs.
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const aedes = new Aedes();
await aedes.listen();
const server = createServer((socket) => {
  socket.setNoDelay(true);
  aedes.handle(socket);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.on('SIGTERM', () => aedes.close(() => server.close(() => process.exit(0))));
