import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLate, LATE_AFTER_MS, lateMarkerLine } from '../feature-layer.ts';

const DAY = 86_400_000;
const day = Date.UTC(2026, 10, 20);

test('a reading is late for the feature layer once its day ended more than LATE_AFTER_MS before it arrived', () => {
  assert.equal(isLate(day, day + 12 * 3_600_000), false, 'during its day');
  assert.equal(isLate(day, day + DAY + LATE_AFTER_MS - 1), false, 'an hourly upload just after midnight');
  assert.equal(isLate(day, day + DAY + LATE_AFTER_MS), true);
  assert.equal(isLate(day, day + 3 * DAY), true, 'a backlog three days on');
});

test('the late mark: one point per device and day (the day as its time), the arrival as a field', () => {
  assert.equal(lateMarkerLine('wm 1,a', 'washer', day, day + 3 * DAY + 5), `feature_late,device_id=wm\\ 1\\,a,kind=washer at=${day + 3 * DAY + 5}i ${day}000000`);
});
