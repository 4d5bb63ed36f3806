#!/usr/bin/env node
// Draws the desktop app's icons into build/icons (committed; run again only to change them):
//   icon.png                 512×512 application icon (electron-builder makes the .ico / .icns from it)
//   tray-{ok,warning,down}.png and @2x: the tray's pool-health states (16×16 and 32×32)
// Plain shapes, anti-aliased by 4×4 supersampling, written as RGBA PNGs with node:zlib: no dependency.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const outDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'build', 'icons');

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** `shade(x, y)` gives [r, g, b, a] (0..255) at a point in a 0..1 square; the result is a PNG file. */
function drawPng(size, shade) {
  const samples = 4;
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const [pr, pg, pb, pa] = shade((x + (sx + 0.5) / samples) / size, (y + (sy + 0.5) / samples) / size);
          r += pr * pa;
          g += pg * pa;
          b += pb * pa;
          a += pa;
        }
      }
      const offset = y * (size * 4 + 1) + 1 + x * 4;
      raw[offset] = a ? Math.round(r / a) : 0;
      raw[offset + 1] = a ? Math.round(g / a) : 0;
      raw[offset + 2] = a ? Math.round(b / a) : 0;
      raw[offset + 3] = Math.round(a / (samples * samples));
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const hex = (color) => [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16));
const distance = (x, y, cx, cy) => Math.hypot(x - cx, y - cy);
const TRANSPARENT = [0, 0, 0, 0];

function roundedSquare(x, y, inset, radius) {
  const cx = Math.min(Math.max(x, inset + radius), 1 - inset - radius);
  const cy = Math.min(Math.max(y, inset + radius), 1 - inset - radius);
  return distance(x, y, cx, cy) <= radius;
}

/** The application icon: three pool elements around a registrar, on a dark rounded square. */
function appIcon(x, y) {
  if (!roundedSquare(x, y, 0.04, 0.18)) return TRANSPARENT;
  const elements = [0, 1, 2].map((i) => {
    const angle = -Math.PI / 2 + (i * 2 * Math.PI) / 3;
    return [0.5 + 0.25 * Math.cos(angle), 0.53 + 0.25 * Math.sin(angle)];
  });
  if (distance(x, y, 0.5, 0.53) <= 0.09) return [...hex('#f8fafc'), 255];
  for (const [ex, ey] of elements) if (distance(x, y, ex, ey) <= 0.11) return [...hex('#2dd4bf'), 255];
  for (const [ex, ey] of elements) {
    // spokes from the registrar to each element
    const t = Math.max(0, Math.min(1, ((x - 0.5) * (ex - 0.5) + (y - 0.53) * (ey - 0.53)) / ((ex - 0.5) ** 2 + (ey - 0.53) ** 2)));
    if (distance(x, y, 0.5 + t * (ex - 0.5), 0.53 + t * (ey - 0.53)) <= 0.022) return [...hex('#94a3b8'), 255];
  }
  return [...hex('#1e293b'), 255];
}

/** A tray dot: filled for ok / warning, a ring for down. */
function trayDot(fill, edge, ring) {
  return (x, y) => {
    const d = distance(x, y, 0.5, 0.5);
    if (d > 0.44) return TRANSPARENT;
    if (d > 0.34) return [...hex(edge), 255];
    return ring ? TRANSPARENT : [...hex(fill), 255];
  };
}

const trayLooks = {
  ok: trayDot('#22c55e', '#15803d', false),
  warning: trayDot('#f59e0b', '#b45309', false),
  down: trayDot('#9ca3af', '#6b7280', true),
};

mkdirSync(outDir, { recursive: true });
writeFileSync(path.join(outDir, 'icon.png'), drawPng(512, appIcon));
for (const [look, shade] of Object.entries(trayLooks)) {
  writeFileSync(path.join(outDir, `tray-${look}.png`), drawPng(16, shade));
  writeFileSync(path.join(outDir, `tray-${look}@2x.png`), drawPng(32, shade));
}
console.log(`icons written to ${path.relative(process.cwd(), outDir) || '.'}`);
