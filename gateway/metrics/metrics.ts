import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every figure the gateway exposes on /metrics. Metrics are not logs: counted, never printed. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ug_process_' });
  const m = {
    registry,
    readingsIn: new Counter({ name: 'ug_readings_received_total', help: 'Readings accepted into the spool', labelNames: ['kind', 'measurement'], registers: [registry] }),
    readingsRefused: new Counter({ name: 'ug_readings_refused_total', help: 'Readings refused, by reason code', labelNames: ['reason'], registers: [registry] }),
    messagesIn: new Counter({ name: 'ug_messages_received_total', help: 'MQTT PUBLISH messages with readings, by QoS', labelNames: ['qos'], registers: [registry] }),
    messagesRefused: new Counter({ name: 'ug_messages_refused_total', help: 'Messages refused as a whole, by reason code', labelNames: ['reason'], registers: [registry] }),
    pointsWritten: new Counter({ name: 'ug_points_written_total', help: 'Points InfluxDB acknowledged', registers: [registry] }),
    deadLettered: new Counter({ name: 'ug_deadlettered_total', help: 'Entries written to the dead-letter store, by source', labelNames: ['source'], registers: [registry] }),
    deadLetterRefused: new Counter({ name: 'ug_deadletter_refused_total', help: 'Entries not written because the dead-letter store is at its size limit, by source', labelNames: ['source'], registers: [registry] }),
    writeLatency: new Histogram({ name: 'ug_write_latency_seconds', help: 'Duration of one successful write to InfluxDB', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    writeBatchLines: new Histogram({ name: 'ug_write_batch_points', help: 'Points per write to InfluxDB', buckets: [1, 10, 50, 100, 500, 1000, 2500, 5000], registers: [registry] }),
    writeRetries: new Counter({ name: 'ug_write_retries_total', help: 'Failed writes to InfluxDB that will be retried, by cause', labelNames: ['cause'], registers: [registry] }),
    ackLatency: new Histogram({ name: 'ug_ack_latency_seconds', help: 'Receive to durable (QoS 1 PUBACK release) time', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1], registers: [registry] }),
    authFailures: new Counter({ name: 'ug_auth_failures_total', help: 'Refused logins, by reason', labelNames: ['reason'], registers: [registry] }),
    connectionsRefused: new Counter({ name: 'ug_connections_refused_total', help: 'MQTT connections closed before they were let in, by reason', labelNames: ['reason'], registers: [registry] }),
    authzRefusals: new Counter({ name: 'ug_authz_refusals_total', help: 'Refused publishes and subscriptions', labelNames: ['action', 'role'], registers: [registry] }),
    packetsTooLarge: new Counter({ name: 'ug_packets_too_large_total', help: 'Connections closed for a packet over the size limit', registers: [registry] }),
    subscribeLimitRefusals: new Counter({ name: 'ug_subscribe_limit_refusals_total', help: 'SUBSCRIBE limits reached: connections closed for too many filters in one packet, filters refused (0x80) beyond the subscriptions a client may hold', labelNames: ['limit'], registers: [registry] }),
    connected: new Gauge({ name: 'ug_connected_clients', help: 'Connected MQTT clients, by role', labelNames: ['role'], registers: [registry] }),
    connectedDevices: new Gauge({ name: 'ug_connected_devices', help: 'Connected devices, by kind and model', labelNames: ['kind', 'model'], registers: [registry] }),
    backpressure: new Gauge({ name: 'ug_backpressure', help: '1 while the spool is full and QoS 1 acknowledgements are held', registers: [registry], aggregator: 'max' }),
    spoolDepthBytes: new Gauge({ name: 'ug_spool_depth_bytes', help: 'Bytes in the spool not yet in InfluxDB', registers: [registry] }),
    spoolDepthRecords: new Gauge({ name: 'ug_spool_depth_records', help: 'Messages in the spool not yet in InfluxDB', registers: [registry] }),
    ingestQueued: new Gauge({ name: 'ug_ingest_queued_messages', help: 'Messages read from connections and waiting to be decoded and spooled', registers: [registry] }),
    ingestInFlight: new Gauge({ name: 'ug_ingest_in_flight_messages', help: 'Messages being decoded and handed to the spool', registers: [registry] }),
    ingestSpooling: new Gauge({ name: 'ug_ingest_spooling_messages', help: 'Messages handed to the spool and not yet on disk (QoS 1: not yet acknowledged)', registers: [registry] }),
    ingestPaused: new Gauge({ name: 'ug_ingest_paused', help: '1 while connections are not read because the ingest queue is deep (TCP backpressure)', registers: [registry], aggregator: 'max' }),
    ingestPauses: new Counter({ name: 'ug_ingest_pauses_total', help: 'Times the gateway stopped reading from connections because the ingest queue was deep', registers: [registry] }),
    spoolOldestAge: new Gauge({ name: 'ug_spool_oldest_age_seconds', help: 'Age of the oldest message not yet in InfluxDB', registers: [registry], aggregator: 'max' }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
