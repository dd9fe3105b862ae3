import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configSchema } from '../schema.ts';
import { checkDeviceId, checkOwner, DEVICE_ID_RE, isDeviceId, OWNER_RE } from '../../protocol/ids.ts';
import { deviceEntrySchema, consumerEntrySchema } from '../../protocol/registry.ts';
import { parseDeviceTopic } from '../../protocol/topics.ts';
import { triggerSchema } from '../../protocol/trigger.ts';

const accepted = ['wm-0001', 'a', 'A.b_c-d', '.hidden', 'x.', '_', '0', 'x'.repeat(64), 'a..b', 'a-'];
const refused = ['', '.', '..', '...', '-x', '-', '--yes', 'x'.repeat(65), 'a/b', 'a b', 'a\nb', 'a+b', 'a#b', 'é', "o'k"];

describe('the device id rule (protocol/ids.ts)', () => {
  it('accepts 1 to 64 letters, digits, ".", "_" and "-", refusing ids of dots only and ids that start with "-"', () => {
    for (const id of accepted) assert.ok(isDeviceId(id), `${JSON.stringify(id)} is accepted`);
    for (const id of refused) assert.ok(!isDeviceId(id), `${JSON.stringify(id)} is refused`);
  });

  it('is the rule of the registry file, of topics and of the config', () => {
    const entry = { id: '', role: 'consumer', secretHash: `sha256$${'A'.repeat(43)}`, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' };
    for (const id of refused) {
      assert.ok(!consumerEntrySchema.safeParse({ ...entry, id }).success, `registry refuses ${JSON.stringify(id)}`);
      assert.equal(parseDeviceTopic(`devices/${id}/telemetry`), null, `topic with ${JSON.stringify(id)}`);
      const serial = configSchema.safeParse({ serial: { ports: [{ path: '/dev/ttyUSB0', deviceId: id, secret: 's' }] } });
      assert.ok(!serial.success, `serial.ports.deviceId refuses ${JSON.stringify(id)}`);
    }
    for (const id of accepted) {
      assert.ok(consumerEntrySchema.safeParse({ ...entry, id }).success, `registry accepts ${JSON.stringify(id)}`);
      assert.equal(parseDeviceTopic(`devices/${id}/telemetry`)?.deviceId, id);
    }
    const deviceId = triggerSchema.shape.deviceId;
    assert.ok(!deviceId.safeParse('..').success && deviceId.safeParse('wm-1').success, 'triggers carry ids of the same rule');
  });

  it('check functions throw GW_ERR_INVALID_ARGUMENT quoting the value with control characters escaped', () => {
    assert.equal(checkDeviceId('wm-1'), 'wm-1');
    assert.throws(() => checkDeviceId('a\nb'), { code: 'GW_ERR_INVALID_ARGUMENT', message: /^"a\\nb" is not a valid device id: expected 1 to 64 letters/ });
    assert.throws(() => checkDeviceId('-x', 'consumer id'), { code: 'GW_ERR_INVALID_ARGUMENT', message: /^"-x" is not a valid consumer id/ });
    assert.throws(() => checkDeviceId('y'.repeat(500)), { message: /^"y{70,}…" is not/ });
  });
});

describe('the owner rule', () => {
  it('a pseudonymous id of 1 to 128 letters, digits, ".", "_", ":" or "-"; never a name, an e-mail or an address', () => {
    for (const owner of ['cust-17', 'crm:4711', 'o'.repeat(128), 'a.b_c']) {
      assert.ok(OWNER_RE.test(owner), owner);
      assert.equal(checkOwner(owner), owner);
    }
    for (const owner of ['', 'John Smith, 1 Main St', 'o'.repeat(129), 'jane@example.com', 'a\nb']) {
      assert.ok(!OWNER_RE.test(owner), owner);
      assert.throws(() => checkOwner(owner), { code: 'GW_ERR_INVALID_ARGUMENT', message: /is refused: expected a pseudonymous customer id/ });
    }
    const device = deviceEntrySchema.shape.owner;
    assert.ok(!device.safeParse('John Smith, 1 Main St').success && device.safeParse('cust-1').success, 'the registry file checks the same rule');
  });

  it('docs/device-protocol.md gives both patterns as the code has them', () => {
    const doc = readFileSync(new URL('../../docs/device-protocol.md', import.meta.url), 'utf8');
    assert.ok(doc.includes(`\`${DEVICE_ID_RE.source}\``), `the device id pattern ${DEVICE_ID_RE.source} is in the doc`);
    assert.ok(doc.includes(`\`${OWNER_RE.source}\``), `the owner pattern ${OWNER_RE.source} is in the doc`);
  });
});
