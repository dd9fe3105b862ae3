import { pino, type Logger } from 'pino';

/** The root logger: JSON lines on stdout; each module takes a child with its name. */
export function createLogger(level: string, name = 'usage-gateway'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

export type { Logger };
