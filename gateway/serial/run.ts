import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { ResolvedConfig } from '../../config/load.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { DeadLetterStore } from '../deadletter/index.ts';
import type { Gateway } from '../gateway.ts';
import type { Logger } from '../../core/log.ts';
import { SerialBridge, type BridgeOptions, type BridgeStats } from './bridge.ts';
import { duplexPair } from './duplex-pair.ts';
import { registerSerialMetrics } from './metrics.ts';

/** One configured port (config `serial.ports[]`), secret still possibly in a file. */
export type SerialPortConfig = ResolvedConfig['serial']['ports'][number];

/** What a bridge needs besides its connection, dead-letter store and logger. */
export type PortSpec = Omit<BridgeOptions, 'mqttUrl' | 'connectStream' | 'deadletter' | 'log' | 'logEveryMs'>;

export function portSpec(p: SerialPortConfig): PortSpec {
  let secret = p.secret;
  if (!secret && p.secretFile) {
    try {
      secret = readFileSync(p.secretFile, 'utf8').split(/\r?\n/)[0].trim();
    } catch (err) {
      throw new UsageGatewayError('GW_ERR_CONFIG', `serial port ${p.path}: cannot read secretFile ${p.secretFile}: ${(err as Error).message}`);
    }
    if (!secret) throw new UsageGatewayError('GW_ERR_CONFIG', `serial port ${p.path}: secretFile ${p.secretFile} is empty`);
  }
  return {
    path: p.path, baudRate: p.baudRate, deviceId: p.deviceId, secret: secret!, kind: p.kind, format: p.format,
    fieldMap: p.fieldMap, writeBack: p.writeBack, rtscts: p.rtscts, reconnect: { ...p.reconnect }, limits: { ...p.limits },
  };
}

export interface BridgeSetOptions {
  deadletterDir: string;
  deadletterMaxBytes: number;
  log: Logger;
  mqttUrl?: string;
  connectStream?: () => Duplex;
  logEveryMs?: number;
  /** Called for each line dead-lettered (the gateway counts them by source). */
  onDeadLetter?: () => void;
  /** Called for each refused line the dead-letter store could not keep (at its size limit). */
  onDeadLetterRefused?: () => void;
}

/** Several ports at once, one bridge each, sharing a dead-letter store. */
export class BridgeSet {
  readonly bridges: SerialBridge[];
  private readonly deadletter: DeadLetterStore;

  constructor(specs: PortSpec[], opts: BridgeSetOptions) {
    const paths = new Set<string>();
    for (const s of specs) {
      if (paths.has(s.path)) throw new UsageGatewayError('GW_ERR_CONFIG', `serial port ${s.path} is configured twice`);
      paths.add(s.path);
    }
    this.deadletter = new DeadLetterStore(opts.deadletterDir, opts.deadletterMaxBytes, { log: opts.log, onRefused: opts.onDeadLetterRefused });
    this.bridges = specs.map((s) => new SerialBridge({
      ...s, mqttUrl: opts.mqttUrl, connectStream: opts.connectStream, deadletter: this.deadletter,
      log: opts.log, logEveryMs: opts.logEveryMs,
    }));
    const onDeadLetter = opts.onDeadLetter;
    if (onDeadLetter) for (const b of this.bridges) b.on('refused', (_code, _reason, kept) => { if (kept) onDeadLetter(); });
  }

  async start(): Promise<void> {
    await this.deadletter.open();
    for (const b of this.bridges) b.start();
  }

  async stop(deadlineMs?: number): Promise<void> {
    await Promise.all(this.bridges.map((b) => b.stop(deadlineMs)));
    await this.deadletter.close();
  }

  stats(): BridgeStats[] {
    return this.bridges.map((b) => b.stats());
  }
}

/**
 * The ports of `serial.ports`, run inside the gateway process (serial.runInGateway).
 * Decision: they reach the broker through an in-memory stream pair fed to
 * gateway.broker.handle(), not over TCP to localhost, so they work whatever address and
 * port the MQTT listener binds to, and still authenticate as their devices like any client.
 */
export async function startGatewayBridges(gateway: Gateway): Promise<BridgeSet | undefined> {
  const { config } = gateway;
  if (!config.serial.runInGateway || config.serial.ports.length === 0) return undefined;
  const set = new BridgeSet(config.serial.ports.map(portSpec), {
    deadletterDir: config.deadletter.dir,
    deadletterMaxBytes: config.deadletter.maxBytes,
    log: gateway.log.child({ module: 'serial' }),
    connectStream: () => {
      const [client, server] = duplexPair();
      gateway.broker.handle(server, 'serial-bridge');
      return client;
    },
    onDeadLetter: () => gateway.metrics.deadLettered.inc({ source: 'serial' }),
    onDeadLetterRefused: () => gateway.metrics.deadLetterRefused.inc({ source: 'serial' }),
  });
  registerSerialMetrics(gateway.metrics.registry, () => set.stats());
  await set.start();
  return set;
}

/** Plain words for the end of a run. */
export function summary(stats: BridgeStats[]): string {
  return stats.map((s) => {
    const refused = Object.entries(s.refused).map(([code, n]) => `${n} ${code}`).join(', ');
    return `${s.path} → ${s.deviceId}: ${s.lines} lines, ${s.acknowledged} readings acknowledged by the gateway`
      + `${s.ignored ? `, ${s.ignored} blank/comment lines skipped` : ''}`
      + `${refused ? `, refused ${refused} (dead-lettered: ${s.deadLettered})` : ', none refused'}`
      + `${s.refusedByGateway ? `, ${s.refusedByGateway} refused by the gateway` : ''}`
      + `${s.losses ? `, port lost ${s.losses}×` : ''}`
      + `${s.queueDepth + s.inFlight > 0 ? `, ${s.queueDepth + s.inFlight} unacknowledged` : ''}`;
  }).join('\n');
}
