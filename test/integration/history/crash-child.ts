/**
 * The process crash-safety.test.ts kills: opens the history at argv[2], then records events as fast as it
 * can (a window of durable() calls plus fire-and-forget load) and prints "ack N" on stdout for event N
 * only after its durable() resolved. Event N is a registration of PE N in pool "crash" (argv[3] is the
 * first N). Prints "ready" once the history is open. Runs until killed.
 */
import { History } from '../../../core/history/history.js';
import { elementValues } from '../../unit/history/helpers.js';

const [file, firstText] = process.argv.slice(2);
if (!file) throw new Error('usage: crash-child.ts FILE FIRST');
let next = Number(firstText ?? 0);

const opened = await History.open({ path: file, maintenanceIntervalMs: 0, log: (line) => process.stderr.write(`${line}\n`) });
if (!opened.ok) {
  process.stderr.write(`${opened.error.code}: ${opened.error.message}\n`);
  process.exit(1);
}
const history = opened.value;
history.record({ kind: 'runStarted', time: Date.now(), serverId: process.pid, settings: {}, appVersion: 'crash-child' });
process.stdout.write('ready\n');

const WINDOW = 64;
let inFlight = 0;

function startOne(): void {
  const id = next++;
  inFlight++;
  // Background load that nobody waits for: the batches are bigger than the acknowledged events alone.
  for (let k = 0; k < 4; k++) history.record({ kind: 'seen', time: Date.now(), poolKey: 'crash', peId: id });
  history.durable({ kind: 'registered', time: Date.now(), poolKey: 'crash', peId: id, cause: 'registered', element: elementValues(id) }).then(
    () => {
      // Pipes are written synchronously on Linux: the line is out before the next event starts.
      process.stdout.write(`ack ${id}\n`);
      inFlight--;
      fill();
    },
    (e: unknown) => {
      process.stderr.write(`durable ${id} failed: ${(e as Error).message}\n`);
      process.exit(2);
    },
  );
}

function fill(): void {
  while (inFlight < WINDOW) startOne();
}

fill();
// Keep the process alive between batches.
setInterval(() => {}, 1000);
