#!/usr/bin/env node
// `npm start`: the desktop app when an Electron binary is installed, otherwise the headless console
// (`handlespace demo`: serve plus a simulated system, in the browser). Builds first when dist/ is missing
// or older than the sources. Signals go to the child, and the child's exit code (or signal) becomes ours.
// Extra arguments are passed on to the child.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * Path of the Electron executable, or null. Deliberately not `require('electron')`: when the binary is
 * missing, the electron package's index.js tries to download it (which hangs or fails offline) and throws.
 * This reads the same path.txt that index.js reads and honours ELECTRON_OVERRIDE_DIST_PATH like it does.
 */
function findElectronBinary() {
  let packageDir;
  try {
    packageDir = path.dirname(createRequire(import.meta.url).resolve('electron/package.json'));
  } catch {
    return null;
  }
  const pathFile = path.join(packageDir, 'path.txt');
  const executable = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : '';
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  let binary = null;
  if (override) binary = path.join(override, executable || 'electron');
  else if (executable) binary = path.join(packageDir, 'dist', executable);
  return binary && existsSync(binary) ? binary : null;
}

/** Newest modification time among the files under the given folders (0 when none exist). */
function newestSourceTime(folders) {
  let newest = 0;
  const visit = (entry) => {
    let stats;
    try {
      stats = statSync(entry);
    } catch {
      return;
    }
    if (stats.isDirectory()) {
      for (const name of readdirSync(entry)) {
        if (name !== 'node_modules') visit(path.join(entry, name));
      }
    } else {
      newest = Math.max(newest, stats.mtimeMs);
    }
  };
  for (const folder of folders) visit(path.join(root, folder));
  return newest;
}

function buildIsStale() {
  const outputs = ['dist/electron/main.js', 'dist/electron/preload.cjs', 'dist/core/console/ipc-host.js', 'dist/renderer/index.html'].map((file) =>
    path.join(root, file),
  );
  if (!outputs.every((file) => existsSync(file))) return true;
  const oldestOutput = Math.min(...outputs.map((file) => statSync(file).mtimeMs));
  const sources = ['core', 'electron', 'renderer', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];
  return newestSourceTime(sources) > oldestOutput;
}

/**
 * Runs a child with our stdio, forwards termination signals to it, and resolves with how it ended. Each
 * signal kind is forwarded once: a terminal's Ctrl-C already reaches the child directly (same process group)
 * and npm forwards its own copy to us, so repeating every copy would look like "pressed twice, force quit".
 */
function runForwardingSignals(command, args, { ownProcessGroup = false } = {}) {
  return new Promise((resolve) => {
    // In its own process group the whole tree gets the signal: `npm run build` runs `sh -c "tsc && vite"`,
    // and sh does not pass a SIGTERM on, so signalling npm alone would leave tsc running.
    const child = spawn(command, args, { cwd: root, stdio: 'inherit', detached: ownProcessGroup });
    const forwarded = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    const alreadyForwarded = new Set();
    const forward = (signal) => {
      if (alreadyForwarded.has(signal) || child.exitCode !== null || child.signalCode !== null) return;
      alreadyForwarded.add(signal);
      if (ownProcessGroup && child.pid !== undefined) process.kill(-child.pid, signal);
      else child.kill(signal);
    };
    for (const signal of forwarded) process.on(signal, forward);
    const finish = (outcome) => {
      for (const signal of forwarded) process.off(signal, forward);
      resolve(outcome);
    };
    child.on('error', (error) => {
      console.error(`start: could not run ${command}: ${error.message}`);
      finish({ code: 1, signal: null });
    });
    child.on('exit', (code, signal) => finish({ code, signal }));
  });
}

/** Ends this process the way the child ended: same exit code, or killed by the same signal. */
function exitLike({ code, signal }) {
  if (signal) {
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
}

/**
 * Electron ≥ 42 fetches its binary on first run rather than at install. Do the same, unless the user asked
 * to skip it (ELECTRON_SKIP_BINARY_DOWNLOAD, as CI and offline machines set): a failed fetch (no network)
 * falls back to the headless console below.
 */
async function fetchElectronBinary() {
  const skip = process.env.ELECTRON_SKIP_BINARY_DOWNLOAD;
  if (skip && skip !== '0' && skip !== 'false') return null;
  let installer;
  try {
    installer = path.join(path.dirname(createRequire(import.meta.url).resolve('electron/package.json')), 'install.js');
  } catch {
    return null;
  }
  if (!existsSync(installer)) return null;
  console.log('start: fetching the Electron binary (first run)…');
  const outcome = await runForwardingSignals(process.execPath, [installer]);
  if (outcome.code !== 0) console.log('start: the Electron binary could not be fetched.');
  return findElectronBinary();
}

const passThrough = process.argv.slice(2);
const electronBinary = findElectronBinary() ?? (await fetchElectronBinary());

if (electronBinary) {
  if (buildIsStale()) {
    console.log('start: building (dist/ is missing or older than the sources)…');
    const build = await runForwardingSignals(npm, ['run', 'build'], { ownProcessGroup: true });
    if (build.code !== 0) {
      console.error('start: the build did not finish; not launching Electron.');
      exitLike(build);
    }
  }
  // Electron starts the app at the repository root; package.json "main" points it to dist/electron/main.js.
  exitLike(await runForwardingSignals(electronBinary, [root, ...passThrough]));
} else {
  // Without Electron the same console runs headless, in the browser: `handlespace demo` is `serve` plus a
  // simulated system (loopback only, temporary history), so there is something to look at at once.
  const cli = path.join(root, 'bin', 'handlespace.mjs');
  const verb = existsSync(path.join(root, 'core', 'cli', 'demo-command.ts')) ? 'demo' : 'serve';
  const why =
    process.env.ELECTRON_SKIP_BINARY_DOWNLOAD && !['0', 'false'].includes(process.env.ELECTRON_SKIP_BINARY_DOWNLOAD)
      ? 'ELECTRON_SKIP_BINARY_DOWNLOAD is set and no Electron binary is installed (node_modules/electron/dist)'
      : 'no Electron binary is installed (node_modules/electron/dist) and none could be fetched';
  console.log(`start: ${why}; running the headless console instead: node bin/handlespace.mjs ${verb}`);
  if (!existsSync(cli)) {
    console.error(`start: ${path.relative(root, cli)} does not exist yet; nothing to run.`);
    process.exit(1);
  }
  exitLike(await runForwardingSignals(process.execPath, [cli, verb, ...passThrough]));
}
