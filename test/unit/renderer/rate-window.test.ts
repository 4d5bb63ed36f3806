/**
 * Notifications per pool in 10 s buckets (renderer/src/model/rate-window.ts): what "the last minute" counts,
 * how old buckets are cleared as time moves on, the sparkline series, and the fading snapshot seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUCKET_MS, BUCKETS, RateWindow } from '../../../renderer/src/model/rate-window.js';

/** A realistic wall-clock time at the start of a bucket. */
const T0 = Math.floor(Date.UTC(2026, 10, 27, 14, 0, 0) / BUCKET_MS) * BUCKET_MS;

test('an empty window counts nothing and its series is all zeros', () => {
  const w = new RateWindow();
  assert.equal(w.lastMinute(T0), 0);
  assert.deepEqual(w.series(T0), new Array<number>(BUCKETS).fill(0));
});

test('lastMinute sums the current bucket and the five before it', () => {
  const w = new RateWindow();
  w.add(3, T0);
  w.add(2, T0 + 9_999);
  w.add(4, T0 + BUCKET_MS);
  assert.equal(w.lastMinute(T0 + BUCKET_MS), 9);
  // The first bucket is still inside the window five buckets later...
  assert.equal(w.lastMinute(T0 + 5 * BUCKET_MS + 9_999), 9);
  // ...and gone at the sixth; the second bucket goes one later.
  assert.equal(w.lastMinute(T0 + 6 * BUCKET_MS), 4);
  assert.equal(w.lastMinute(T0 + 7 * BUCKET_MS), 0);
});

test('late events land in their own bucket while it is in the window, and are dropped once it is not', () => {
  const w = new RateWindow();
  w.add(1, T0 + 10 * BUCKET_MS);
  w.add(5, T0 + 8 * BUCKET_MS);
  assert.equal(w.lastMinute(T0 + 10 * BUCKET_MS), 6);
  // Older than the whole ring: must not wrap onto a current bucket.
  w.add(100, T0 + 10 * BUCKET_MS - BUCKETS * BUCKET_MS);
  assert.equal(w.lastMinute(T0 + 10 * BUCKET_MS), 6);
  assert.equal(w.series(T0 + 10 * BUCKET_MS).reduce((a, b) => a + b, 0), 6);
});

test('series is oldest first and ends with the current bucket', () => {
  const w = new RateWindow();
  w.add(1, T0);
  w.add(2, T0 + BUCKET_MS);
  w.add(7, T0 + 3 * BUCKET_MS);
  const series = w.series(T0 + 3 * BUCKET_MS);
  assert.equal(series.length, BUCKETS);
  assert.deepEqual(series.slice(-4), [1, 2, 0, 7]);
  assert.deepEqual(series.slice(0, -4), new Array<number>(BUCKETS - 4).fill(0));
  // Time moving on shifts the series left.
  assert.deepEqual(w.series(T0 + 5 * BUCKET_MS).slice(-6), [1, 2, 0, 7, 0, 0]);
});

test('a gap longer than the ring clears every bucket', () => {
  const w = new RateWindow();
  for (let i = 0; i < BUCKETS; i++) w.add(1, T0 + i * BUCKET_MS);
  assert.equal(w.series(T0 + (BUCKETS - 1) * BUCKET_MS).reduce((a, b) => a + b, 0), BUCKETS);
  const later = T0 + 10 * BUCKETS * BUCKET_MS;
  assert.deepEqual(w.series(later), new Array<number>(BUCKETS).fill(0));
  w.add(2, later);
  assert.equal(w.lastMinute(later), 2);
});

test('a slot reused after wrapping around the ring starts from zero', () => {
  const w = new RateWindow();
  w.add(9, T0);
  w.add(1, T0 + BUCKETS * BUCKET_MS); // the same slot index, one lap later
  assert.equal(w.lastMinute(T0 + BUCKETS * BUCKET_MS), 1);
});

test('the snapshot seed fades linearly over one minute and is ignored outside it', () => {
  const w = new RateWindow();
  w.seedLastMinute(120, T0);
  assert.equal(w.lastMinute(T0), 120);
  assert.equal(w.lastMinute(T0 + 15_000), 90);
  assert.equal(w.lastMinute(T0 + 30_000), 60);
  assert.equal(w.lastMinute(T0 + 59_999), 0);
  assert.equal(w.lastMinute(T0 + 60_000), 0);
  // A clock that reads earlier than the seed does not add it either.
  const early = new RateWindow();
  early.seedLastMinute(50, T0);
  assert.equal(early.lastMinute(T0 - 1), 0);
});

test('seed and live counts add up; a new seed replaces the old one', () => {
  const w = new RateWindow();
  w.seedLastMinute(60, T0);
  w.add(5, T0 + 30_000);
  assert.equal(w.lastMinute(T0 + 30_000), 35);
  w.seedLastMinute(10, T0 + 30_000);
  assert.equal(w.lastMinute(T0 + 30_000), 15);
});
