/**
 * Where the console keeps its files when not told otherwise: the same folder Electron's
 * `app.getPath('userData')` gives the desktop app ("Handlespace Console" under the platform's per-user
 * application data folder), so the desktop app and `handlespace serve` share one history.
 * HANDLESPACE_DATA_DIR overrides it (tests, containers, several instances on one host).
 */
import os from 'node:os';
import path from 'node:path';

export const PRODUCT_FOLDER = 'Handlespace Console';
export const HISTORY_FILE = 'history.db';

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home: string = os.homedir()): string {
  const override = env['HANDLESPACE_DATA_DIR'];
  if (override) return path.resolve(override);
  switch (platform) {
    case 'win32':
      return path.join(env['APPDATA'] ?? path.join(home, 'AppData', 'Roaming'), PRODUCT_FOLDER);
    case 'darwin':
      return path.join(home, 'Library', 'Application Support', PRODUCT_FOLDER);
    default:
      return path.join(env['XDG_CONFIG_HOME'] || path.join(home, '.config'), PRODUCT_FOLDER);
  }
}

export function defaultHistoryPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(defaultDataDir(env), HISTORY_FILE);
}
