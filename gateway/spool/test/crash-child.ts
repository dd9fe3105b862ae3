// Appends numbered records to a spool as fast as it can, 32 at a time, and prints the number
// of each record once its append resolved (durable): the crash test kills this process with
// SIGKILL and checks that every printed number is in the spool.
import { Spool } from '../index.ts';

const [dir, segmentBytes] = [process.argv[2], Number(process.argv[3])];
const spool = new Spool({ dir, maxBytes: 1024 * 1024 * 1024, segmentBytes, fsync: true });
await spool.open();
let next = 0;
const worker = async () => {
  for (;;) {
    const i = next++;
    await spool.append(Buffer.from(`m,k=${i % 5} i=${i}i ${i}`), 1, true);
    process.stdout.write(`${i}\n`);
  }
};
await Promise.all(Array.from({ length: 32 }, worker));
