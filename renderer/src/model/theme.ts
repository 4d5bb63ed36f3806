/**
 * Light and dark themes: the page's CSS variables (App.svelte) and the chart colours (chart.js draws on a
 * canvas and cannot read CSS variables) come from this one table, so both stay readable in either theme.
 */
export type ThemeChoice = 'auto' | 'light' | 'dark';
export type Theme = 'light' | 'dark';

export interface Palette {
  readonly text: string;
  readonly muted: string;
  readonly grid: string;
  readonly ok: string;
  readonly warn: string;
  readonly bad: string;
  readonly info: string;
  readonly suspect: string;
  readonly accent: string;
}

export const PALETTES: Record<Theme, Palette> = {
  light: { text: '#1d2330', muted: '#5b6475', grid: '#d9dde5', ok: '#1b7f3b', warn: '#a35c00', bad: '#c62828', info: '#1f5fbf', suspect: '#8e44ad', accent: '#2f6fdd' },
  dark: { text: '#e6e9ef', muted: '#9aa3b5', grid: '#343b49', ok: '#4cc57a', warn: '#f0a640', bad: '#ff6b6b', info: '#6aa5ff', suspect: '#c58cf0', accent: '#6aa5ff' },
};

export const THEME_STORAGE_KEY = 'handlespace.console.theme';

export function resolveTheme(choice: ThemeChoice, prefersDark: boolean): Theme {
  return choice === 'auto' ? (prefersDark ? 'dark' : 'light') : choice;
}

/** A colour with alpha, for chart fills ("#1b7f3b" → "rgba(27,127,59,0.25)"). */
export function withAlpha(hex: string, alpha: number): string {
  const value = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(value >> 16) & 255},${(value >> 8) & 255},${value & 255},${alpha})`;
}
