/**
 * The application's version, read once from our package.json (found upwards from this module, so it
 * works from core/ under tsx, from dist/core/ and from inside the packaged app).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function readVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const parsed = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (parsed.name === 'handlespace' && typeof parsed.version === 'string') return parsed.version;
    } catch {
      // not here: look one folder up
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}

export const APP_VERSION = readVersion();
