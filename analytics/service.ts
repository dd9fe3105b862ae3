import { resolve } from 'node:path';
import { Cron } from 'croner';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.ts';
import { createLogger } from '../core/log.ts';
import { Registry } from '../core/registry/index.ts';
import { createInfluxStore, type InfluxStore } from '../core/influx/index.ts';
import { UsageGatewayError } from '../protocol/errors.ts';
import { SENSITIVE_CATEGORIES } from '../protocol/registry.ts';
import type { Trigger } from '../protocol/trigger.ts';
import { loadCatalogue, type Catalogue } from '../protocol/models.ts';
import { buildApiApp } from './api/app.ts';
import { influxSink } from './delivery/influx.ts';
import { mqttSink } from './delivery/mqtt.ts';
import { Outbox } from './delivery/outbox.ts';
import { recheck } from './delivery/recheck.ts';
import type { Sink } from './delivery/types.ts';
import { webhookSink } from './delivery/webhook.ts';
import { registryDirectory } from './engine/directory.ts';
import { layerPlan, runJob, type RunSummary } from './engine/job.ts';
import { FeatureLayer } from './features/layer.ts';
import { DAY_MS, dayFloor } from '../core/time.ts';
import { createAnalyticsMetrics, type AnalyticsMetrics } from './metrics.ts';
import { DEFAULT_RULES_PATH, loadRules, type Rule } from './rules.ts';
import { StateStore } from './store/state.ts';

export type AnalyticsConfig = Readonly<ResolvedConfig>;

export interface RunOptions {
  asOfMs?: number;
  ruleIds?: string[];
  onProgress?(p: { kind: string; done: number; total: number }): void;
}

/**
 * The analytics service: rules on a schedule, the delivery outbox and the API with the
 * trigger inbox. Construct (no I/O) → open() (state, registry, rules; enough for a one-off run)
 * → start() (schedule, delivery, API) → stop().
 */
export class Analytics {
  readonly log: Logger;
  readonly metrics: AnalyticsMetrics;
  readonly state: StateStore;
  readonly influx: InfluxStore;
  rules: Rule[] = [];
  catalogue!: Catalogue;
  registry!: Registry;
  outbox!: Outbox;
  private api?: FastifyInstance;
  private crons: Cron[] = [];
  private running?: Promise<RunSummary>;
  private opened = false;

  constructor(readonly config: AnalyticsConfig, opts: { log?: Logger } = {}) {
    this.log = (opts.log ?? createLogger(config.log.level)).child({ module: 'analytics' });
    this.metrics = createAnalyticsMetrics();
    this.state = new StateStore(resolve(config.analytics.stateDir ?? `${config.dataDir}/analytics`));
    this.influx = createInfluxStore(config.influx);
  }

  /** Sinks this configuration delivers to; each new trigger is queued for each. */
  sinks(): Sink[] {
    const d = this.config.analytics.delivery;
    const out: Sink[] = [];
    if (d.webhookUrl) out.push(webhookSink(d.webhookUrl, d.webhookSecret!, d.webhookTimeoutMs));
    if (d.webhookMarketingUrl) out.push(webhookSink(d.webhookMarketingUrl, d.webhookMarketingSecret!, d.webhookTimeoutMs, 'webhook-marketing'));
    if (d.webhookServiceUrl) out.push(webhookSink(d.webhookServiceUrl, d.webhookServiceSecret!, d.webhookTimeoutMs, 'webhook-service'));
    if (d.mqtt && d.mqttUsername) {
      out.push(mqttSink(d.mqttUrl ?? `mqtt://127.0.0.1:${this.config.mqtt.port}`, d.mqttUsername, d.mqttPassword ?? '', d.webhookTimeoutMs));
    }
    if (d.influx) out.push(influxSink(this.influx));
    return out;
  }

  /**
   * The sinks one trigger goes to: the webhook of its purpose when there is one (else the
   * all-purpose webhook), MQTT (where the broker lets each consumer receive only its purposes),
   * InfluxDB. A sensitive trigger (retention) goes to no automated channel (webhooks, MQTT)
   * unless delivery.sensitiveToAutomated: people take it up from the inbox.
   */
  sinksFor(t: Trigger): string[] {
    const d = this.config.analytics.delivery;
    const configured = new Set(this.sinks().map((s) => s.name));
    const own = `webhook-${t.purpose}`;
    const automated = [configured.has(own) ? own : 'webhook', 'mqtt'].filter((n) => configured.has(n));
    const sensitive = SENSITIVE_CATEGORIES.includes(t.category) && !d.sensitiveToAutomated;
    return [...(sensitive ? [] : automated), ...(configured.has('influx') ? ['influx'] : [])];
  }

  async open(): Promise<void> {
    if (this.opened) return;
    const a = this.config.analytics;
    this.rules = loadRules(a.rulesPath ? resolve(a.rulesPath) : DEFAULT_RULES_PATH);
    if (a.delivery.mqtt && !a.delivery.mqttUsername) this.log.warn('analytics.delivery.mqtt is on but mqttUsername is not set: triggers are not published on MQTT (see `usage-gateway analytics identity`)');
    this.catalogue = loadCatalogue(this.config.models.path);
    this.registry = new Registry(this.config.registry.path, this.catalogue, this.log.child({ module: 'registry' }));
    await this.registry.load();
    this.state.open();
    const m = this.metrics;
    this.outbox = new Outbox({
      state: this.state, sinks: this.sinks(), ...a.delivery, log: this.log.child({ module: 'outbox' }),
      check: (t) => recheck(this.registry, t),
      onResult: (sink, outcome) => m.deliveries.inc({ sink, outcome }),
      onDropped: (sink, reason) => m.dropped.inc({ sink, reason }),
    });
    this.opened = true;
  }

  /** Runs the enabled rules (or the named ones) once, at `asOfMs` (default now). */
  async run(o: RunOptions = {}): Promise<RunSummary> {
    await this.open();
    const known = new Set(this.rules.map((r) => r.id));
    for (const id of o.ruleIds ?? []) if (!known.has(id)) throw new UsageGatewayError('GW_ERR_USAGE', `no rule "${id}"; known: ${[...known].join(', ')}`);
    const rules = this.rules.filter((r) => (o.ruleIds?.length ? o.ruleIds.includes(r.id) : r.enabled));
    await this.registry.refresh();
    const end = this.metrics.runSeconds.startTimer();
    const a = this.config.analytics;
    try {
      const summary = await runJob({
        rules, catalogue: this.catalogue, influx: this.influx, state: this.state, policy: a.policy, pageSize: a.pageSize,
        concurrency: a.concurrency, features: a.features, partition: a.partition, layerRules: this.layerRules(rules),
        sinks: this.sinks().map((s) => s.name), sinksFor: (t) => this.sinksFor(t), log: this.log,
        onFired: (t) => this.metrics.fired.inc({ rule: t.ruleId, category: t.category }),
        onSuppressed: (rule, reason) => this.metrics.suppressed.inc({ rule, reason }),
      }, registryDirectory(this.registry), o.asOfMs ?? Date.now(), o.onProgress);
      this.metrics.runs.inc({ result: 'ok' });
      return summary;
    } catch (err) {
      this.metrics.runs.inc({ result: 'failed' });
      throw err;
    } finally {
      end();
    }
  }

  /** The rules the feature layer is built for: the enabled ones and those of this run. */
  private layerRules(run: Rule[]): Rule[] {
    return this.rules.filter((r) => r.enabled || run.includes(r));
  }

  /**
   * Builds the daily feature layer for the complete days of [fromMs, toMs) that it lacks (a
   * backfill of existing history; runs build what they need themselves), or all of them with
   * `rebuild`. Returns the days built.
   */
  async buildFeatures(fromMs: number, toMs: number, onProgress?: (p: { kind: string; done: number; total: number }) => void, rebuild = false): Promise<{ days: number; rows: number; queries: number }> {
    await this.open();
    await this.registry.refresh();
    const startMs = dayFloor(fromMs);
    const days = Math.max(0, Math.round((dayFloor(toMs) - startMs) / DAY_MS));
    const layer = new FeatureLayer(this.influx, this.catalogue, layerPlan(this.layerRules([]), this.catalogue.models.map((m) => m.kind)));
    const built = await layer.ensure(startMs, days, Math.max(1, this.registry.devices().length), onProgress, rebuild);
    return { days: built, rows: layer.rowsWritten, queries: layer.queries };
  }

  /** Schedules, delivery loop and API; resolves with the API port. */
  async start(): Promise<{ api: number }> {
    await this.open();
    this.registry.watch();
    const a = this.config.analytics;
    // Rules with a schedule of their own run on it; the others together on analytics.schedule.
    const bySchedule = new Map<string, string[]>();
    for (const r of this.rules.filter((x) => x.enabled)) bySchedule.set(r.schedule ?? a.schedule, [...(bySchedule.get(r.schedule ?? a.schedule) ?? []), r.id]);
    for (const [pattern, ruleIds] of bySchedule) {
      this.crons.push(new Cron(pattern, { timezone: a.timezone, protect: true }, async () => {
        if (this.running) return; // one run at a time; the next tick catches up
        this.running = this.run({ ruleIds });
        try {
          await this.running;
        } catch (err) {
          this.log.error({ err, rules: ruleIds }, 'scheduled analytics run failed');
        } finally {
          this.running = undefined;
        }
      }));
    }
    this.outbox.start();
    this.api = await buildApiApp({ analytics: this, token: a.api.token });
    await this.api.listen({ host: a.api.host, port: a.api.port });
    const port = (this.api.server.address() as { port: number }).port;
    this.log.info({ api: port, rules: this.rules.length, schedules: Object.fromEntries(bySchedule), state: this.state.dir }, 'analytics started');
    return { api: port };
  }

  async stop(): Promise<void> {
    for (const c of this.crons) c.stop();
    this.crons = [];
    await this.running?.catch(() => undefined);
    await this.api?.close();
    this.api = undefined;
    if (this.opened) {
      await this.outbox.stop();
      await this.registry.stop();
      await this.state.close();
      this.opened = false;
    }
  }
}

export function createAnalytics(config: AnalyticsConfig, opts: { log?: Logger } = {}): Analytics {
  return new Analytics(config, opts);
}
