/**
 * Child process of history.bench.ts: runs `handlespace export` in-process on argv[2] to argv[4] (format
 * argv[3]) and prints one JSON line: rows, bytes, seconds, and the process's peak RSS (ru_maxrss), so the
 * bench can show the export's memory does not grow with the number of rows.
 */
import { exportCommand } from '../../core/cli/history-commands.js';

const [db, format, out] = process.argv.slice(2);
if (!db || !format || !out) throw new Error('usage: history-export-child.ts DB FORMAT OUT');
let stderr = '';
const started = performance.now();
const status = await exportCommand(['--db', db, '--format', format, '--out', out], {
  stdout: () => {},
  stderr: (text) => {
    stderr += text;
  },
  readStdin: () => Promise.resolve(undefined),
});
const seconds = (performance.now() - started) / 1000;
const match = /(\d+) rows \((\d+) bytes\)/.exec(stderr);
process.stdout.write(
  `${JSON.stringify({ status, rows: Number(match?.[1] ?? 0), bytes: Number(match?.[2] ?? 0), seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024, stderr: status === 0 ? undefined : stderr })}\n`,
);
