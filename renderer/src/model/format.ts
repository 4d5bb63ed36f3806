/** How the console writes times, durations, loads and ids: one place so every view reads the same. */

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** "2026-11-27 14:03:09" in local time: operators read the wall clock of their own desk. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "14:03:09.125": the feed's precision. */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** A duration as the largest two units: "3 d 4 h", "5 min 12 s", "800 ms". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '∞';
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  const units: [number, string][] = [
    [Math.floor(s / 86_400), 'd'],
    [Math.floor(s / 3600) % 24, 'h'],
    [Math.floor(s / 60) % 60, 'min'],
    [s % 60, 's'],
  ];
  const first = units.findIndex(([value]) => value > 0);
  if (first < 0) return '0 s';
  return units
    .slice(first, first + 2)
    .filter(([value], i) => i === 0 || value > 0)
    .map(([value, unit]) => `${value} ${unit}`)
    .join(' ');
}

/** "12 s ago" relative to `now`. */
export function formatAge(since: number, now: number): string {
  const age = now - since;
  return age < 1000 ? 'just now' : `${formatDuration(age)} ago`;
}

/** Load 0..1 as a percentage, "—" when the policy carries none. */
export function formatLoad(load: number | null): string {
  return load === null ? '—' : `${(load * 100).toFixed(load < 0.1 && load > 0 ? 1 : 0)} %`;
}

export function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
}

/** Weight / priority / degradation values as "weight 5, priority 1". */
export function formatPolicyValues(values: Readonly<Record<string, number>>): string {
  const entries = Object.entries(values).filter(([name]) => name !== 'load');
  return entries.length === 0 ? '—' : entries.map(([name, value]) => `${name} ${value}`).join(', ');
}

/** Parses "0x1f" or "31" as an element id; undefined when it is neither. */
export function parseElementId(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const value = /^0x[0-9a-f]+$/i.test(trimmed) ? Number.parseInt(trimmed.slice(2), 16) : /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  return Number.isInteger(value) && value >= 0 && value <= 0xffffffff ? value : undefined;
}

/** `<input type="datetime-local">` value ("2026-11-27T14:03") for a time, and back. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fromLocalInput(text: string): number | undefined {
  if (text === '') return undefined;
  const ms = new Date(text).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}
