/**
 * Proves eslint.config.js enforces DESIGN.md §2's downward-only layering: each case lints a snippet as if it
 * were a file at the given path (nothing is written to disk) and checks which imports are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const eslint = new ESLint({ cwd: repositoryRoot });

interface Finding {
  readonly ruleId: string | null;
  readonly message: string;
}

async function lintAt(relativePath: string, code: string): Promise<Finding[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(repositoryRoot, relativePath) });
  assert.ok(result, `ESLint returned no result for ${relativePath}`);
  return result.messages.map(({ ruleId, message }) => ({ ruleId, message }));
}

function importsRefused(findings: readonly Finding[]): Finding[] {
  return findings.filter((finding) => finding.ruleId === 'no-restricted-imports');
}

/** [file the snippet pretends to be, import specifier]; the imported file need not exist. */
type ImportCase = readonly [file: string, specifier: string];

const refused: readonly ImportCase[] = [
  ['core/wire/probe.ts', '../registrar/server.js'],
  ['core/wire/probe.ts', '../handlespace/pool.js'],
  ['core/wire/probe.ts', '../../electron/main.js'],
  ['core/wire/probe.ts', '../wire/../registrar/server.js'],
  ['core/wire/nested/probe.ts', '../../handlespace/pool.js'],
  ['core/wire/nested/probe.ts', '../../../renderer/src/main.js'],
  ['core/handlespace/probe.ts', '../registrar/server.js'],
  ['core/handlespace/probe.ts', '../history/store.js'],
  ['core/registrar/probe.ts', '../console/api.js'],
  ['core/registrar/probe.ts', '../cli/main.js'],
  ['core/registrar/probe.ts', '../client/pool-user.js'],
  ['core/registrar/probe.ts', 'electron'],
  ['core/enrp/probe.ts', '../console/api.js'],
  ['core/history/probe.ts', '../../renderer/src/main.js'],
  ['core/client/probe.ts', '../handlespace/pool.js'],
  ['core/client/probe.ts', '../registrar/server.js'],
  ['core/console/probe.ts', '../cli/main.js'],
  ['core/console/probe.ts', '../../electron/preload.cjs'],
  ['core/cli/probe.ts', '../../renderer/src/main.js'],
  ['core/cli/probe.ts', 'electron/main'],
  ['core/wire/probe.ts', '../clock.js'],
  ['core/result.ts', './wire/types.js'],
  ['core/clock.ts', '../electron/main.js'],
  ['renderer/src/probe.ts', '../../core/wire/types.js'],
  ['renderer/src/probe.ts', '../../core/console/server.js'],
  ['renderer/src/probe.ts', '../../electron/main.js'],
  ['renderer/src/probe.ts', 'electron'],
  ['renderer/src/probe.ts', 'node:fs'],
  ['renderer/src/views/probe.ts', '../../../core/handlespace/pool.js'],
];

const allowed: readonly ImportCase[] = [
  ['core/wire/probe.ts', './types.js'],
  ['core/wire/probe.ts', '../result.js'],
  ['core/wire/nested/probe.ts', '../types.js'],
  ['core/wire/nested/probe.ts', '../../result.js'],
  ['core/handlespace/probe.ts', '../wire/types.js'],
  ['core/handlespace/probe.ts', '../clock.js'],
  ['core/clock.ts', './result.js'],
  ['core/registrar/probe.ts', '../handlespace/pool.js'],
  ['core/registrar/probe.ts', '../history/store.js'],
  ['core/registrar/probe.ts', 'node:net'],
  ['core/client/probe.ts', '../wire/encoder.js'],
  ['core/console/probe.ts', '../registrar/server.js'],
  ['core/console/probe.ts', '../history/store.js'],
  ['core/cli/probe.ts', '../console/server.js'],
  ['core/cli/probe.ts', '../client/pool-element.js'],
  ['renderer/src/probe.ts', '../../core/console/contract.js'],
  ['renderer/src/views/probe.ts', '../../../core/console/contract.js'],
  ['renderer/src/views/probe.ts', '../main.js'],
  ['test/unit/probe.test.ts', '../../core/registrar/server.js'],
];

function importing(specifier: string): string {
  return `import type { Probe } from '${specifier}';\nexport type Reexported = Probe;\n`;
}

for (const [file, specifier] of refused) {
  test(`${file} may not import '${specifier}'`, async () => {
    const findings = importsRefused(await lintAt(file, importing(specifier)));
    assert.equal(findings.length, 1, `expected one no-restricted-imports error, got ${JSON.stringify(findings)}`);
  });
}

for (const [file, specifier] of allowed) {
  test(`${file} may import '${specifier}'`, async () => {
    const findings = await lintAt(file, importing(specifier));
    assert.deepEqual(findings, []);
  });
}

test('re-exports are held to the same rule as imports', async () => {
  const findings = importsRefused(await lintAt('core/wire/probe.ts', "export { Server } from '../registrar/server.js';\n"));
  assert.equal(findings.length, 1);
});

test('the refusal names the layers the folder may use', async () => {
  const [finding] = importsRefused(await lintAt('core/handlespace/probe.ts', importing('../registrar/server.js')));
  assert.match(
    finding?.message ?? '',
    /core\/handlespace may import only core\/handlespace, core\/\{wire\}, core\/result\.ts, core\/clock\.ts/,
  );
});

test('an unknown core/ folder is refused until it is placed in the layer order', async () => {
  const findings = await lintAt('core/utilities/probe.ts', 'export const probe = 1;\n');
  assert.ok(findings.some((finding) => finding.ruleId === 'no-restricted-syntax' && /Unknown core\/ folder/.test(finding.message)));
});

test('`any` is an error', async () => {
  const findings = await lintAt('core/wire/probe.ts', 'export const loose: any = 1;\n');
  assert.ok(findings.some((finding) => finding.ruleId === '@typescript-eslint/no-explicit-any'));
});
