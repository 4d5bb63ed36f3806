/**
 * How the console writes times, durations, loads and ids (renderer/src/model/format.ts). Local-time
 * functions are checked under fixed time zones (TZ is set per test; each test file runs in its own process).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatAge,
  formatClock,
  formatDuration,
  formatLoad,
  formatPolicyValues,
  formatTime,
  fromLocalInput,
  hex32,
  parseElementId,
  toLocalInput,
} from '../../../renderer/src/model/format.js';

function inTimeZone(t: TestContext, zone: string): void {
  const previous = process.env['TZ'];
  process.env['TZ'] = zone;
  t.after(() => {
    if (previous === undefined) delete process.env['TZ'];
    else process.env['TZ'] = previous;
  });
}

const MOMENT = Date.UTC(2026, 10, 27, 14, 3, 9, 125); // 2026-11-27 14:03:09.125 UTC

test('formatTime and formatClock write the local wall clock, zero-padded', (t) => {
  inTimeZone(t, 'UTC');
  assert.equal(formatTime(MOMENT), '2026-11-27 14:03:09');
  assert.equal(formatClock(MOMENT), '14:03:09.125');
  assert.equal(formatTime(Date.UTC(2026, 0, 2, 3, 4, 5)), '2026-01-02 03:04:05');
  assert.equal(formatClock(Date.UTC(2026, 0, 2, 3, 4, 5, 7)), '03:04:05.007');
  inTimeZone(t, 'Asia/Kolkata'); // +05:30, no daylight saving
  assert.equal(formatTime(MOMENT), '2026-11-27 19:33:09');
  assert.equal(formatClock(MOMENT), '19:33:09.125');
});

test('formatDuration: milliseconds below a second, else the two largest units without a zero second unit', () => {
  assert.equal(formatDuration(0), '0 ms');
  assert.equal(formatDuration(800), '800 ms');
  assert.equal(formatDuration(12.4), '12 ms');
  assert.equal(formatDuration(1000), '1 s');
  assert.equal(formatDuration(1999), '1 s');
  assert.equal(formatDuration(5 * 60_000 + 12_000), '5 min 12 s');
  assert.equal(formatDuration(60_000), '1 min');
  assert.equal(formatDuration(3_600_000), '1 h');
  assert.equal(formatDuration(3_600_000 + 59_000), '1 h', 'seconds are the third unit after hours');
  assert.equal(formatDuration(2 * 3_600_000 + 30 * 60_000), '2 h 30 min');
  assert.equal(formatDuration(3 * 86_400_000 + 4 * 3_600_000 + 5 * 60_000), '3 d 4 h');
  assert.equal(formatDuration(3 * 86_400_000 + 5 * 60_000), '3 d', 'a zero hour is not skipped over to minutes');
  assert.equal(formatDuration(400 * 86_400_000), '400 d');
});

test('formatDuration: negative is zero, infinite is ∞', () => {
  assert.equal(formatDuration(-5000), '0 ms');
  assert.equal(formatDuration(Number.POSITIVE_INFINITY), '∞');
  assert.equal(formatDuration(Number.NaN), '∞');
});

test('formatAge: "just now" under a second (and for a clock skewed into the future), else "… ago"', () => {
  assert.equal(formatAge(10_000, 10_000), 'just now');
  assert.equal(formatAge(10_000, 10_999), 'just now');
  assert.equal(formatAge(10_000, 5_000), 'just now');
  assert.equal(formatAge(10_000, 11_000), '1 s ago');
  assert.equal(formatAge(0, 90_000), '1 min 30 s ago');
});

test('formatLoad: whole percent, one decimal below 10 %, a dash without a load', () => {
  assert.equal(formatLoad(null), '—');
  assert.equal(formatLoad(0), '0 %');
  assert.equal(formatLoad(0.5), '50 %');
  assert.equal(formatLoad(1), '100 %');
  assert.equal(formatLoad(0.123), '12 %');
  assert.equal(formatLoad(0.05), '5.0 %');
  assert.equal(formatLoad(0.001), '0.1 %');
});

test('hex32: eight hex digits, unsigned 32-bit', () => {
  assert.equal(hex32(0), '0x00000000');
  assert.equal(hex32(0x1f), '0x0000001f');
  assert.equal(hex32(0xdeadbeef), '0xdeadbeef');
  assert.equal(hex32(-1), '0xffffffff');
  assert.equal(hex32(2 ** 32 + 5), '0x00000005');
});

test('formatPolicyValues: name value pairs in order, load left out, a dash when empty', () => {
  assert.equal(formatPolicyValues({ weight: 5, priority: 1 }), 'weight 5, priority 1');
  assert.equal(formatPolicyValues({ load: 7, loadDegradation: 2 }), 'loadDegradation 2');
  assert.equal(formatPolicyValues({ load: 7 }), '—');
  assert.equal(formatPolicyValues({}), '—');
});

test('parseElementId: 0x hex or decimal, trimmed, within 32 bits; anything else is undefined', () => {
  assert.equal(parseElementId('0x1f'), 31);
  assert.equal(parseElementId('0X1F'), 31);
  assert.equal(parseElementId('  31 '), 31);
  assert.equal(parseElementId('0'), 0);
  assert.equal(parseElementId('0xffffffff'), 0xffffffff);
  assert.equal(parseElementId('4294967295'), 0xffffffff);
  for (const text of ['', '   ', '0x', '0x100000000', '4294967296', '-1', '1.5', '1e3', 'abc', '0x1g', '31 32', '+5', '0b101']) {
    assert.equal(parseElementId(text), undefined, JSON.stringify(text));
  }
  // hex32 and parseElementId are inverses over the id range.
  for (const id of [0, 1, 0x1234, 0x7fffffff, 0x80000000, 0xffffffff]) assert.equal(parseElementId(hex32(id)), id);
});

test('toLocalInput writes the datetime-local value in local time', (t) => {
  inTimeZone(t, 'UTC');
  assert.equal(toLocalInput(MOMENT), '2026-11-27T14:03');
  inTimeZone(t, 'America/New_York');
  assert.equal(toLocalInput(MOMENT), '2026-11-27T09:03');
  assert.equal(fromLocalInput('2026-11-27T09:03'), Date.UTC(2026, 10, 27, 14, 3));
});

test('toLocalInput and fromLocalInput round trip to the minute in several zones', (t) => {
  const times = [MOMENT, Date.UTC(2026, 5, 30, 23, 59, 59, 999), Date.UTC(2000, 1, 29, 0, 0), Date.UTC(2026, 0, 1, 0, 0, 30)];
  for (const zone of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham']) {
    inTimeZone(t, zone);
    for (const ms of times) {
      const truncated = ms - (ms % 60_000);
      assert.equal(fromLocalInput(toLocalInput(ms)), truncated, `${zone} ${new Date(ms).toISOString()}`);
      assert.equal(toLocalInput(fromLocalInput(toLocalInput(ms)) ?? Number.NaN), toLocalInput(ms));
    }
  }
});

test('fromLocalInput: an empty or invalid value is undefined', () => {
  assert.equal(fromLocalInput(''), undefined);
  assert.equal(fromLocalInput('not a date'), undefined);
  assert.equal(fromLocalInput('2026-13-40T99:99'), undefined);
});
