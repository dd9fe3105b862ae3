/**
 * Topic builders and parsers of device protocol v1 (docs/device-protocol.md).
 * Every part builds topics through these functions; none spells a topic by hand.
 */

import { DEVICE_ID_RE } from './ids.ts';

export { DEVICE_ID_RE };

export const TRIGGER_CATEGORIES = ['upsell', 'service', 'retention'] as const;
export type TriggerCategory = (typeof TRIGGER_CATEGORIES)[number];

/** Device → gateway channels that carry readings. */
export const READING_CHANNELS = ['telemetry', 'events'] as const;
export type ReadingChannel = (typeof READING_CHANNELS)[number];

export type DeviceChannel = ReadingChannel | 'status' | 'rejected' | 'commands';

export const topics = {
  telemetry: (deviceId: string) => `devices/${deviceId}/telemetry`,
  events: (deviceId: string) => `devices/${deviceId}/events`,
  status: (deviceId: string) => `devices/${deviceId}/status`,
  rejected: (deviceId: string) => `devices/${deviceId}/rejected`,
  commands: (deviceId: string, sub = '#') => `devices/${deviceId}/commands/${sub}`,
  trigger: (category: TriggerCategory, ruleId: string) => `triggers/${category}/${ruleId}`,
  allTriggers: 'triggers/#',
} as const;

export interface DeviceTopic {
  deviceId: string;
  channel: DeviceChannel;
  /** Levels after `commands/`, empty for the other channels. */
  rest: string[];
}

/** Parses `devices/{id}/{channel}[/…]`; null for anything else or a malformed id. */
export function parseDeviceTopic(topic: string): DeviceTopic | null {
  const levels = topic.split('/');
  if (levels.length < 3 || levels[0] !== 'devices') return null;
  const [, deviceId, channel, ...rest] = levels;
  if (!DEVICE_ID_RE.test(deviceId)) return null;
  if (channel === 'commands') return { deviceId, channel, rest };
  if (rest.length > 0) return null;
  if (channel === 'telemetry' || channel === 'events' || channel === 'status' || channel === 'rejected') {
    return { deviceId, channel, rest };
  }
  return null;
}

