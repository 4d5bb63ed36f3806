/**
 * The packaging configuration (build/electron-builder*.yml) cannot be exercised here: packaging needs the
 * Electron binary and, for the real config, a native rebuild. So it is checked the way electron-builder
 * itself checks it before packaging: loaded with its own loader (YAML, `extends`) and validated against its
 * own JSON schema with its own validator (app-builder-lib). On top of that, the settings we rely on are
 * asserted: targets, fuses, what is unpacked from the asar, native rebuild on/off, icons on disk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const require = createRequire(import.meta.url);

/** The parts of app-builder-lib's config module we use (it is CommonJS without exports; types by hand). */
interface ConfigModule {
  getConfig(projectDir: string, configPath: string | null, configFromOptions: object | null): Promise<BuilderConfig>;
  validateConfiguration(config: BuilderConfig, debugLogger: { isEnabled: boolean; add(key: string, value: unknown): void }): Promise<void>;
}

interface BuilderConfig {
  readonly [key: string]: unknown;
  readonly files?: unknown;
  readonly asar?: boolean;
  readonly asarUnpack?: readonly string[];
  readonly npmRebuild?: boolean;
  readonly electronFuses?: Readonly<Record<string, boolean>>;
  readonly electronDist?: string;
  readonly icon?: string;
  readonly linux?: { readonly target?: readonly string[]; readonly executableName?: string };
  readonly win?: { readonly target?: readonly string[] };
  readonly mac?: { readonly target?: readonly string[] };
}

const builderConfig = require('app-builder-lib/out/util/config/config.js') as ConfigModule;

// electron-builder logs ("loaded configuration") straight to stdout, which the Node 20 test runner reads as
// its own serialized channel: an interleaved line corrupts it. Its log is dropped here.
const builderLog = createRequire(require.resolve('app-builder-lib/package.json'))('builder-util/out/log.js') as { log: { stream: Writable } };
builderLog.log.stream = new Writable({ write: (_chunk, _encoding, done) => done() });
const noDebug = { isEnabled: false, add: () => undefined };

async function load(file: string): Promise<BuilderConfig> {
  return builderConfig.getConfig(root, path.join(root, file), null);
}

test('electron-builder.yml passes electron-builder\'s own schema validation', async () => {
  const config = await load('build/electron-builder.yml');
  await builderConfig.validateConfiguration(config, noDebug);
});

test('the validator is real: a misspelt key is refused', async () => {
  const config = await load('build/electron-builder.yml');
  await assert.rejects(builderConfig.validateConfiguration({ ...config, asarUnpak: ['x'] }, noDebug), /unknown property 'asarUnpak'/);
  await assert.rejects(
    builderConfig.validateConfiguration({ ...config, electronFuses: { ...config.electronFuses, runAsNodes: false } }, noDebug),
    /configuration\.electronFuses/,
  );
});

test('targets: AppImage and deb on Linux, NSIS on Windows, dmg on macOS', async () => {
  const config = await load('build/electron-builder.yml');
  assert.deepEqual(config.linux?.target, ['AppImage', 'deb']);
  assert.deepEqual(config.win?.target, ['nsis']);
  assert.deepEqual(config.mac?.target, ['dmg']);
  assert.equal(config.linux?.executableName, 'handlespace-console');
});

test('the Electron fuses are set as the security review asks', async () => {
  const config = await load('build/electron-builder.yml');
  assert.deepEqual(config.electronFuses, {
    runAsNode: false,
    enableCookieEncryption: true,
    enableNodeOptionsEnvironmentVariable: false,
    enableNodeCliInspectArguments: false,
    enableEmbeddedAsarIntegrityValidation: true,
    onlyLoadAppFromAsar: true,
    grantFileProtocolExtraPrivileges: false,
  });
});

test('better-sqlite3 and the history worker are unpacked from the asar; native modules are rebuilt', async () => {
  const config = await load('build/electron-builder.yml');
  assert.equal(config.asar, true);
  assert.ok(config.asarUnpack?.includes('node_modules/better-sqlite3/**'));
  assert.ok(config.asarUnpack?.includes('dist/core/history/**'));
  assert.equal(config.npmRebuild, true);
});

test('the packaged files include the build output, the migrations and the tray icons, which exist', async () => {
  const config = await load('build/electron-builder.yml');
  const patterns = JSON.stringify(config.files);
  for (const pattern of ['dist/**', 'migrations/**', 'build/icons/tray-*.png', 'package.json']) assert.ok(patterns.includes(pattern), pattern);
  assert.equal(config.icon, 'build/icons/icon.png');
  const icon = fs.readFileSync(path.join(root, 'build', 'icons', 'icon.png'));
  assert.equal(icon.subarray(1, 4).toString('ascii'), 'PNG');
  assert.deepEqual([icon.readUInt32BE(16), icon.readUInt32BE(20)], [512, 512], 'icon.png is 512×512 (macOS needs at least that)');
  for (const look of ['ok', 'warning', 'down']) {
    for (const [suffix, size] of [['', 16], ['@2x', 32]] as const) {
      const tray = fs.readFileSync(path.join(root, 'build', 'icons', `tray-${look}${suffix}.png`));
      assert.deepEqual([tray.readUInt32BE(16), tray.readUInt32BE(20)], [size, size], `tray-${look}${suffix}.png`);
    }
  }
  assert.ok(fs.existsSync(path.join(root, 'migrations', '0010_initial.sql')));
});

test('the offline dir config extends the real one, without rebuilding and with the installed Electron', async () => {
  const config = await load('build/electron-builder.offline-dir.yml');
  await builderConfig.validateConfiguration(config, noDebug);
  assert.equal(config.npmRebuild, false);
  // Targets come from the command line (`--linux dir`): `extends` appends arrays, it cannot replace them.
  assert.deepEqual(config.linux?.target, ['AppImage', 'deb']);
  assert.equal(config.electronDist, 'node_modules/electron/dist');
  // Everything else comes from the real config.
  assert.equal(config.electronFuses?.['runAsNode'], false);
  assert.ok(config.asarUnpack?.includes('node_modules/better-sqlite3/**'));
  assert.deepEqual(config.win?.target, ['nsis']);
});
