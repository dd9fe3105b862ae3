/**
 * The error catalogue: every refusal and failure the project reports carries one of these
 * stable codes. docs/errors.md explains each one; keep the two in step.
 */
export const ERROR_CODES = {
  // Device protocol: whole-message refusals
  GW_ERR_PAYLOAD_TOO_LARGE: 'The message is larger than the payload limit.',
  GW_ERR_PACKET_TOO_LARGE: 'An MQTT packet exceeded the packet limit; the connection was closed before it was read.',
  GW_ERR_BAD_UTF8: 'The payload is not valid UTF-8.',
  GW_ERR_BAD_JSON: 'The payload is not valid JSON.',
  GW_ERR_NOT_A_READING: 'The payload is neither a reading object nor an array of readings.',
  GW_ERR_TOO_MANY_READINGS: 'The array holds more readings than one message may carry.',
  GW_ERR_EMPTY_BATCH: 'The array holds no readings.',
  GW_ERR_UNKNOWN_KIND: "The device's kind in the registry has no schema.",
  GW_ERR_SPOOL_FULL: 'The gateway spool is full; QoS 0 messages are refused until it drains.',
  GW_ERR_INGEST_BUSY: 'More messages wait to be stored than the gateway holds (ingest.maxQueued); QoS 0 messages are refused until it catches up.',
  // Device protocol: per-reading refusals
  GW_ERR_INVALID_READING: 'A reading does not match the schema of its device kind.',
  GW_ERR_TS_IN_FUTURE: 'The reading time is more than the allowed skew ahead of the gateway clock.',
  GW_ERR_TS_TOO_OLD: 'The reading time is older than the raw retention.',
  // Storage
  GW_ERR_INFLUX_REFUSED: 'InfluxDB refused a point (HTTP 400); the point was dead-lettered.',
  GW_ERR_DEADLETTER_FULL: 'The dead-letter store is at its size limit; refused messages are counted and described, but no longer kept.',
  GW_ERR_REDIS_UNAVAILABLE: 'Redis (cluster mode) cannot be reached: the gateway does not start without it, and is not ready while it is lost.',
  GW_ERR_WORKER_EXITED: 'A gateway worker process ended unexpectedly; the primary starts another on the same spool.',
  // Authorization (logged and counted; MQTT 3.1.1 cannot tell the client why)
  GW_ERR_AUTH_FAILED: 'Unknown identity or wrong secret.',
  GW_ERR_LOGIN_THROTTLED: 'Too many failed logins from one address: its logins are refused for a while without checking the secret.',
  GW_ERR_NOT_AUTHORIZED: 'The identity may not publish or subscribe to that topic.',
  GW_ERR_TOO_MANY_CONNECTIONS: 'Too many connections from one address, or in all.',
  GW_ERR_NO_FILE_DESCRIPTORS: 'A connection was refused because it would leave the process too few file descriptors.',
  GW_ERR_CONNECT_TIMEOUT: 'A connection did not log in within the connect timeout and was closed.',
  GW_ERR_CLIENT_ID: 'The client id is empty, malformed or does not match the username.',
  GW_ERR_PROTOCOL: 'An MQTT packet broke the protocol in a way the broker must answer by closing the connection.',
  GW_ERR_SUBSCRIBE_LIMIT: 'A SUBSCRIBE carried more filters than one packet may, or the client already holds as many subscriptions as it may.',
  // Config, registry, catalogue, CLI
  GW_ERR_CONFIG: 'The configuration is invalid.',
  GW_ERR_REGISTRY: 'The device registry file is invalid or cannot be written.',
  GW_ERR_CATALOGUE: 'The model catalogue is invalid.',
  GW_ERR_DEVICE_EXISTS: 'A device or consumer with that id is already registered.',
  GW_ERR_DEVICE_UNKNOWN: 'No device or consumer with that id is registered.',
  GW_ERR_MODEL_UNKNOWN: 'The model is not in the catalogue, or is of another kind.',
  GW_ERR_USAGE: 'The command line is invalid.',
  GW_ERR_INVALID_ARGUMENT: 'A device id, consumer id or owner breaks its rule (docs/device-protocol.md); nothing was changed.',
  GW_ERR_INTERNAL: 'An unexpected failure: not a refusal of what was asked, but something the command did not foresee.',
  GW_ERR_INFLUX_UNAVAILABLE: 'InfluxDB cannot be reached.',
  GW_ERR_ERASE_UNSUPPORTED: "The InfluxDB version in use cannot delete one device's data.",
  GW_ERR_ERASE_INCOMPLETE: "Points of the erased device are still in InfluxDB after the erasure.",
  // Analytics, triggers and the analytics API
  GW_ERR_RULES: 'The rule catalogue is invalid.',
  GW_ERR_MANIFEST: 'The simulator manifest given to the backtest is invalid.',
  GW_ERR_UNAUTHORIZED: 'The API call has no bearer token, or not the right one.',
  GW_ERR_BAD_REQUEST: 'The API request (path, query or body) is invalid.',
  GW_ERR_TRIGGER_UNKNOWN: 'No trigger with that id.',
  GW_ERR_NOT_FOUND: 'Nothing is held under that id: no such owner, or the device was removed or erased.',
  GW_ERR_STATE: 'The analytics state store cannot be opened or written.',
  // Serial bridge
  GW_ERR_SERIAL_PORT: 'A serial port cannot be opened, or was lost; the bridge reopens it with backoff.',
  GW_ERR_SERIAL_LIST_UNAVAILABLE: 'Serial ports cannot be listed: udevadm (Debian package udev) is missing.',
  GW_ERR_SERIAL_LINE_TOO_LONG: 'A serial line was longer than the line limit; it was dropped up to its end.',
  GW_ERR_SERIAL_PARTIAL_LINE: 'A serial line was cut off: the port closed, or went quiet, before its end.',
  GW_ERR_SERIAL_BAD_KV: 'A key=value serial line is malformed.',
  GW_ERR_SERIAL_QUEUE_FULL: 'The serial bridge queue was full; the line was refused and dead-lettered.',
  GW_ERR_SERIAL_UNSENT: 'The serial bridge stopped before the gateway acknowledged a reading; it was dead-lettered.',
  GW_ERR_SERIAL_COMMAND: 'A command could not be written to the serial port (not one line of UTF-8, too long, or the port is closed).',
  // Firmware simulator
  GW_ERR_SIM_MIX: 'The device mix of a simulated fleet is invalid (unknown kind, or shares that do not add up to 100%).',
  GW_ERR_SIM_FLEET: 'The simulated fleet file is missing or invalid, or the catalogue cannot serve the fleet asked for.',
  GW_ERR_SIM_CONNECT: 'A simulated device could not connect to the broker (unreachable, or its credentials were refused).',
  GW_ERR_SIM_OUTPUT: 'The simulator cannot write its output or manifest file.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error that a user sees: a stable code and a message in plain words. */
export class UsageGatewayError extends Error {
  readonly code: ErrorCode;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'UsageGatewayError';
    this.code = code;
    this.details = details;
  }
}
