/**
 * Window state (electron/window-state.ts): a damaged or hand-edited file is ignored, bounds from a
 * display that is gone are not used, sizes are clamped, and saving is atomic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DEFAULT_WINDOW_SIZE,
  isReachable,
  loadWindowState,
  MIN_WINDOW_SIZE,
  parseWindowState,
  placeWindow,
  saveWindowState,
  serializeWindowState,
  type WindowState,
} from '../../../electron/window-state.js';

const laptop = { x: 0, y: 0, width: 1920, height: 1080 };
const rightMonitor = { x: 1920, y: 0, width: 2560, height: 1440 };
const saved: WindowState = { bounds: { x: 100, y: 80, width: 1400, height: 900 }, maximized: false };

test('a saved state round-trips through its file format', () => {
  assert.deepEqual(parseWindowState(serializeWindowState(saved)), saved);
  assert.deepEqual(parseWindowState(serializeWindowState({ ...saved, maximized: true })), { ...saved, maximized: true });
});

test('invalid files are ignored', () => {
  const valid = JSON.parse(serializeWindowState(saved)) as Record<string, unknown>;
  for (const [label, text] of [
    ['empty', ''],
    ['not JSON', '{bounds:'],
    ['JSON null', 'null'],
    ['an array', '[]'],
    ['other version', JSON.stringify({ ...valid, version: 2 })],
    ['no version', JSON.stringify({ bounds: saved.bounds, maximized: false })],
    ['maximized as text', JSON.stringify({ ...valid, maximized: 'no' })],
    ['bounds missing', JSON.stringify({ ...valid, bounds: undefined })],
    ['width as text', JSON.stringify({ ...valid, bounds: { ...saved.bounds, width: '1400' } })],
    ['zero height', JSON.stringify({ ...valid, bounds: { ...saved.bounds, height: 0 } })],
    ['fractional x', JSON.stringify({ ...valid, bounds: { ...saved.bounds, x: 1.5 } })],
    ['absurd coordinates', JSON.stringify({ ...valid, bounds: { ...saved.bounds, x: 1e9 } })],
    ['huge file', `${JSON.stringify(valid)}${' '.repeat(5000)}`],
  ] as const) {
    assert.equal(parseWindowState(text), null, label);
  }
});

test('saved bounds on a connected display are used as they are', () => {
  assert.deepEqual(placeWindow(saved, [laptop]), { x: 100, y: 80, width: 1400, height: 900, maximized: false });
  const onSecond: WindowState = { bounds: { x: 2200, y: 100, width: 1600, height: 1000 }, maximized: true };
  assert.deepEqual(placeWindow(onSecond, [laptop, rightMonitor]), { x: 2200, y: 100, width: 1600, height: 1000, maximized: true });
});

test('bounds left on a display that is gone are dropped (the window is centered), the size kept', () => {
  const onSecond: WindowState = { bounds: { x: 2200, y: 100, width: 1600, height: 1000 }, maximized: false };
  assert.deepEqual(placeWindow(onSecond, [laptop]), { width: 1600, height: 1000, maximized: false });
});

test('a title bar pushed off the top or almost off the side does not count as visible', () => {
  assert.equal(isReachable({ x: 100, y: -500, width: 800, height: 600 }, [laptop]), false, 'title bar above the screen');
  assert.equal(isReachable({ x: 1900, y: 100, width: 800, height: 600 }, [laptop]), false, 'only 20 px on screen');
  assert.equal(isReachable({ x: 1700, y: 100, width: 800, height: 600 }, [laptop]), true, '220 px on screen');
  assert.equal(isReachable({ x: 100, y: 1070, width: 800, height: 600 }, [laptop]), false, 'title bar below the work area');
  assert.equal(isReachable(saved.bounds, []), false, 'no displays');
});

test('sizes are clamped to the minimum and to the largest display', () => {
  const tiny: WindowState = { bounds: { x: 10, y: 10, width: 50, height: 40 }, maximized: false };
  assert.deepEqual(placeWindow(tiny, [laptop]), { x: 10, y: 10, width: MIN_WINDOW_SIZE.width, height: MIN_WINDOW_SIZE.height, maximized: false });
  const giant: WindowState = { bounds: { x: 0, y: 0, width: 9000, height: 9000 }, maximized: false };
  assert.deepEqual(placeWindow(giant, [laptop]), { x: 0, y: 0, width: 1920, height: 1080, maximized: false });
});

test('without a saved state the window opens at the default size, centered', () => {
  assert.deepEqual(placeWindow(null, [laptop]), { ...DEFAULT_WINDOW_SIZE, maximized: false });
  assert.deepEqual(placeWindow(null, [{ x: 0, y: 0, width: 1024, height: 768 }]), { width: 1024, height: 768, maximized: false });
});

test('load and save: a missing file is no state, a corrupt one is reported, saving replaces atomically', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-window-state-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'window-state.json');
  assert.deepEqual(await loadWindowState(file), { state: null, problem: null });
  await saveWindowState(file, saved);
  assert.deepEqual(await loadWindowState(file), { state: saved, problem: null });
  assert.deepEqual(fs.readdirSync(dir), ['window-state.json'], 'no temporary file left behind');
  fs.writeFileSync(file, '{"version":1,"bounds":');
  const corrupt = await loadWindowState(file);
  assert.equal(corrupt.state, null);
  assert.match(corrupt.problem ?? '', /not a valid window state/);
  await assert.rejects(saveWindowState(path.join(dir, 'missing', 'window-state.json'), saved));
  assert.deepEqual(fs.readdirSync(dir), ['window-state.json']);
});
