/**
 * The built renderer (dist/renderer) as the LAN server serves it at `/`: where the build is (found from this
 * module's own location, so it works from the sources run by tsx and from dist/core), which request path
 * maps to which file (never outside the folder: no `..`, no encoded separators, no dotfiles, no symbolic
 * links pointing out), content types and caching. Without a build, `/` explains how to make one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { err, ok, type Result } from '../result.js';

/**
 * dist/renderer relative to this module: from core/console/ (sources) it is ../../dist/renderer, from
 * dist/core/console/ (compiled) ../../renderer. The first folder holding an index.html wins.
 */
export function findRendererDir(moduleUrl: string = import.meta.url): string | undefined {
  const here = path.dirname(fileURLToPath(moduleUrl));
  const candidates = [path.resolve(here, '..', '..', 'dist', 'renderer'), path.resolve(here, '..', '..', 'renderer')];
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'index.html')));
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
};

export function contentTypeFor(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export interface StaticFile {
  readonly file: string;
  readonly size: number;
  readonly contentType: string;
  readonly cacheControl: string;
}

export interface StaticRefusal {
  readonly status: 400 | 404;
  readonly reason: string;
}

/**
 * The file a request path (raw, still percent-encoded) names inside `root`. Vite's hashed assets
 * (assets/name-HASH.ext) never change, so browsers may keep them; everything else is revalidated.
 */
export function resolveStaticFile(rawPath: string, root: string): Result<StaticFile, StaticRefusal> {
  let relative: string;
  try {
    relative = decodeURIComponent(rawPath);
  } catch {
    return err({ status: 400, reason: 'undecodable path' });
  }
  if (relative.includes('\0') || relative.includes('\\')) return err({ status: 400, reason: 'forbidden character in path' });
  if (!relative.startsWith('/')) return err({ status: 400, reason: 'the path must start with /' });
  if (relative.endsWith('/')) relative += 'index.html';
  const segments = relative.split('/').slice(1);
  // Dotfiles and '.' / '..' segments: nothing the build serves starts with a dot.
  if (segments.some((s) => s === '' || s.startsWith('.'))) return err({ status: 404, reason: 'no such file' });
  const base = path.resolve(root);
  const file = path.resolve(base, ...segments);
  const fromRoot = path.relative(base, file);
  if (fromRoot === '' || fromRoot.startsWith('..') || path.isAbsolute(fromRoot)) return err({ status: 404, reason: 'outside the renderer' });
  let real: string;
  let realBase: string;
  let stat: fs.Stats;
  try {
    real = fs.realpathSync(file);
    realBase = fs.realpathSync(base);
    stat = fs.statSync(real);
  } catch {
    return err({ status: 404, reason: 'no such file' });
  }
  const realFromRoot = path.relative(realBase, real);
  if (realFromRoot.startsWith('..') || path.isAbsolute(realFromRoot)) return err({ status: 404, reason: 'outside the renderer' });
  if (!stat.isFile()) return err({ status: 404, reason: 'not a file' });
  const immutable = segments[0] === 'assets' && /-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/.test(relative);
  return ok({ file: real, size: stat.size, contentType: contentTypeFor(real), cacheControl: immutable ? 'public, max-age=31536000, immutable' : 'no-cache' });
}

/** What `/` shows when the renderer has not been built. */
export const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Handlespace Console</title></head>
<body>
<h1>Handlespace Console</h1>
<p>The console's web interface has not been built. Run <code>npm run build</code> in the handlespace folder,
then reload this page. The API under <code>/api/v1</code> works without it.</p>
</body>
</html>
`;
