import { z } from 'zod';
import { UsageGatewayError } from './errors.ts';

/**
 * The rules for the ids that identify devices, consumers and owners. Every boundary that takes
 * one (the registry file, the command line, MQTT topics and credentials, the APIs) checks it
 * with these, so that an id accepted in one place is accepted in all the others.
 */

/**
 * A device or consumer id: 1 to 64 letters, digits, ".", "_" or "-". It may not start with "-"
 * (it would read as an option on a command line) nor be dots only ("." and ".." are path steps
 * wherever an id becomes part of a path or URL).
 */
export const DEVICE_ID_RE = /^(?!-)(?!\.+$)[A-Za-z0-9._-]{1,64}$/;
export const DEVICE_ID_RULE = '1 to 64 letters, digits, ".", "_" or "-", not starting with "-" and not dots only';

/** A pseudonymous owner (customer) id; never a name, an e-mail or an address. */
export const OWNER_RE = /^[A-Za-z0-9._:-]{1,128}$/;
export const OWNER_RULE = 'a pseudonymous customer id of 1 to 128 letters, digits, ".", "_", ":" or "-" (never a name or an address)';

export const deviceIdSchema = z.string().regex(DEVICE_ID_RE, `expected ${DEVICE_ID_RULE}`);
export const ownerSchema = z.string().regex(OWNER_RE, `expected ${OWNER_RULE}`);

export function isDeviceId(id: string): boolean {
  return DEVICE_ID_RE.test(id);
}

/** A value as it is quoted back to people: control characters escaped, long values cut. */
export function quoted(value: string): string {
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 76)}…"` : text;
}

/** The id, or GW_ERR_INVALID_ARGUMENT saying which rule it breaks. `what`: "device id", "consumer id"… */
export function checkDeviceId(id: string, what = 'device id'): string {
  if (!isDeviceId(id)) throw new UsageGatewayError('GW_ERR_INVALID_ARGUMENT', `${quoted(id)} is not a valid ${what}: expected ${DEVICE_ID_RULE}`);
  return id;
}

/** The owner, or GW_ERR_INVALID_ARGUMENT. */
export function checkOwner(owner: string): string {
  if (!OWNER_RE.test(owner)) throw new UsageGatewayError('GW_ERR_INVALID_ARGUMENT', `owner ${quoted(owner)} is refused: expected ${OWNER_RULE}`);
  return owner;
}
