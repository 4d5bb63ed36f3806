/**
 * The e2e tests drive the built renderer (dist/renderer, served by `handlespace serve --http`). This builds
 * it once when it is missing or older than any of its sources, so a test never runs against a stale page.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BUILT_INDEX = path.join(ROOT, 'dist/renderer/index.html');
/** Everything the bundle is made from. */
const SOURCES = ['renderer', 'core/console/contract.ts', 'package-lock.json'];

function newestMtime(entry: string): number {
  const stat = fs.statSync(entry, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const child of fs.readdirSync(entry)) newest = Math.max(newest, newestMtime(path.join(entry, child)));
  return newest;
}

export function rendererIsStale(): boolean {
  const built = fs.statSync(BUILT_INDEX, { throwIfNoEntry: false });
  if (!built) return true;
  const sources = Math.max(...SOURCES.map((s) => newestMtime(path.join(ROOT, s))));
  return sources > built.mtimeMs;
}

/** Builds dist/renderer with vite when needed; throws with vite's output when the build fails. */
export function ensureRendererBuilt(): void {
  if (!rendererIsStale()) return;
  const vite = path.join(ROOT, 'node_modules/vite/bin/vite.js');
  const started = Date.now();
  const result = spawnSync(process.execPath, [vite, 'build', '--config', 'renderer/vite.config.ts', '--logLevel', 'warn'], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`vite build failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  console.error(`e2e: built the renderer into dist/renderer (${Date.now() - started} ms)`);
}
