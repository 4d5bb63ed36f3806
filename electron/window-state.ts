/**
 * The main window's size, position and maximized state across runs: a small JSON file in the user data
 * folder, validated on load (a damaged or hand-edited file is ignored, never trusted), and placed only
 * where a display can show it (bounds left over from a monitor that is gone are dropped). No Electron at
 * run time: main.ts passes in the displays' work areas.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';

export interface Rectangle {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface WindowState {
  /** The normal (not maximized) bounds. */
  readonly bounds: Rectangle;
  readonly maximized: boolean;
}

export interface WindowPlacement {
  readonly width: number;
  readonly height: number;
  /** Absent: let the window manager center the window. */
  readonly x?: number;
  readonly y?: number;
  readonly maximized: boolean;
}

export const WINDOW_STATE_FILE = 'window-state.json';
export const DEFAULT_WINDOW_SIZE = { width: 1280, height: 820 } as const;
export const MIN_WINDOW_SIZE = { width: 720, height: 480 } as const;
const FORMAT_VERSION = 1;
const MAX_FILE_BYTES = 4096;
/** Coordinates beyond this are not a desktop, whatever the monitors. */
const MAX_COORDINATE = 100_000;
/** How much of the title bar must be on a display for the saved position to count as visible. */
const VISIBLE_TITLE_BAR = { width: 120, height: 24 } as const;

function isInteger(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
}

/** The saved state, or null when the text is not a valid state (unknown fields are ignored). */
export function parseWindowState(text: string): WindowState | null {
  if (text.length > MAX_FILE_BYTES) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const state = parsed as Record<string, unknown>;
  if (state['version'] !== FORMAT_VERSION || typeof state['maximized'] !== 'boolean') return null;
  const bounds = state['bounds'];
  if (typeof bounds !== 'object' || bounds === null || Array.isArray(bounds)) return null;
  const { x, y, width, height } = bounds as Record<string, unknown>;
  if (!isInteger(x, -MAX_COORDINATE, MAX_COORDINATE) || !isInteger(y, -MAX_COORDINATE, MAX_COORDINATE)) return null;
  if (!isInteger(width, 1, MAX_COORDINATE) || !isInteger(height, 1, MAX_COORDINATE)) return null;
  return { bounds: { x, y, width, height }, maximized: state['maximized'] };
}

export function serializeWindowState(state: WindowState): string {
  const { x, y, width, height } = state.bounds;
  return `${JSON.stringify({ version: FORMAT_VERSION, bounds: { x, y, width, height }, maximized: state.maximized }, null, 2)}\n`;
}

function overlap(a: Rectangle, b: Rectangle): { width: number; height: number } {
  return {
    width: Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x)),
    height: Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y)),
  };
}

/** True when enough of the window's title bar lies on one display to grab it and move the window. */
export function isReachable(bounds: Rectangle, workAreas: readonly Rectangle[]): boolean {
  const titleBar: Rectangle = { x: bounds.x, y: bounds.y, width: bounds.width, height: VISIBLE_TITLE_BAR.height };
  return workAreas.some((area) => {
    const shared = overlap(titleBar, area);
    return shared.width >= Math.min(VISIBLE_TITLE_BAR.width, bounds.width) && shared.height >= VISIBLE_TITLE_BAR.height;
  });
}

/**
 * Where the window opens: the saved bounds when they are on a display now, else the saved (or default)
 * size centered; the size is clamped between the minimum and the largest display's work area.
 */
export function placeWindow(saved: WindowState | null, workAreas: readonly Rectangle[]): WindowPlacement {
  const largest = workAreas.reduce<{ width: number; height: number } | null>(
    (best, area) => (best === null || area.width * area.height > best.width * best.height ? { width: area.width, height: area.height } : best),
    null,
  );
  const clamp = (value: number, min: number, max: number | undefined): number => Math.max(min, max === undefined ? value : Math.min(value, max));
  const wanted = saved?.bounds ?? DEFAULT_WINDOW_SIZE;
  const width = clamp(wanted.width, MIN_WINDOW_SIZE.width, largest?.width);
  const height = clamp(wanted.height, MIN_WINDOW_SIZE.height, largest?.height);
  const maximized = saved?.maximized ?? false;
  if (saved && isReachable({ ...saved.bounds, width, height }, workAreas)) {
    return { x: saved.bounds.x, y: saved.bounds.y, width, height, maximized };
  }
  return { width, height, maximized };
}

/** The saved state, or null when there is none or it is invalid (`problem` says which, for the log). */
export async function loadWindowState(file: string): Promise<{ state: WindowState | null; problem: string | null }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    return { state: null, problem: missing ? null : `cannot read ${file}: ${(e as Error).message}` };
  }
  const state = parseWindowState(text);
  return { state, problem: state ? null : `ignoring ${file}: not a valid window state` };
}

/** Writes the state atomically (temporary file, then rename), so a crash never leaves half a file. */
export async function saveWindowState(file: string, state: WindowState): Promise<void> {
  const temporary = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, serializeWindowState(state), { mode: 0o600 });
    await rename(temporary, file);
  } catch (e) {
    await unlink(temporary).catch(() => undefined);
    throw e;
  }
}
