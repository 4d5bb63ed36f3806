/** ENRP settings: defaults are RSPLIB's; numbers outside their range are clamped and said so. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultEnrpSettings, resolveEnrpSettings } from '../../../core/enrp/settings.js';

test('ENRP settings: out-of-range timers are clamped, each with a message naming ENRP, the range and the value used', () => {
  const { settings, clamped } = resolveEnrpSettings({ peerHeartbeatCycleMs: 5, maxTimeNoResponseMs: 10_000_000, takeoverGraceMs: 1234.6 });
  assert.equal(settings.peerHeartbeatCycleMs, 100);
  assert.equal(settings.maxTimeNoResponseMs, 60_000);
  assert.equal(settings.takeoverGraceMs, 1235);
  assert.deepEqual(clamped.map((c) => c.setting), ['peerHeartbeatCycleMs', 'maxTimeNoResponseMs', 'takeoverGraceMs']);
  assert.equal(clamped[0]?.message, 'ENRP peerHeartbeatCycleMs 5 is outside 100..300000 ms; using 100');
  const untouched = resolveEnrpSettings({});
  assert.deepEqual(untouched.clamped, []);
  assert.deepEqual(untouched.settings, defaultEnrpSettings());
});
