// ESLint flat config. Besides the usual recommended sets it enforces DESIGN.md §2's layering: dependencies
// point downward only (cli → console → registrar/enrp/history → handlespace → wire), core never reaches
// Electron or the renderer, and the renderer (renderer/src) sees nothing of core but the ConsoleApi contract.
// Gap: .svelte files are not linted (eslint-plugin-svelte is not a dependency), so imports written inside
// .svelte components escape these rules; only .ts/.js files are checked.
//
// no-restricted-imports matches the import specifier as written, not the resolved file, so the rules are
// generated per folder depth: from core/wire/x.ts the core folder is '../', from core/wire/sub/x.ts it is
// '../../'. Anything nested deeper than MAX_DEPTH is refused outright (flatten it or raise MAX_DEPTH).
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const TS_FILES = ['**/*.ts', '**/*.mts', '**/*.cts'];
const JS_FILES = ['**/*.js', '**/*.mjs', '**/*.cjs'];
const SOURCE_EXTENSIONS = '{ts,mts,cts,js,mjs,cjs}';
const MAX_DEPTH = 4;

/**
 * What each core layer may import besides its own folder: other layer folders, and leaf files that sit
 * directly in core/ (written with `.ts`). Wire stands on nothing but the Result type.
 */
const SHARED = ['result.ts', 'clock.ts'];
const CORE_LAYERS = {
  wire: ['result.ts'],
  handlespace: ['wire', ...SHARED],
  registrar: ['enrp', 'history', 'handlespace', 'wire', ...SHARED],
  enrp: ['registrar', 'history', 'handlespace', 'wire', ...SHARED],
  history: ['registrar', 'enrp', 'handlespace', 'wire', ...SHARED],
  client: ['wire', ...SHARED],
  // RSPLIB's Component Status Protocol: its own codec, receiver and sender; nothing of ours below it.
  csp: [...SHARED],
  console: ['registrar', 'enrp', 'history', 'csp', 'handlespace', 'wire', ...SHARED],
  cli: ['console', 'registrar', 'enrp', 'history', 'csp', 'handlespace', 'wire', 'client', ...SHARED],
};

/** Files directly in core/ are leaves: they may import only each other. */
const CORE_ROOT_FILES = SHARED;

/** The only part of core the renderer may see: the ConsoleApi contract (types only). */
const RENDERER_ALLOWED_CORE = ['console/contract'];

const escapeRegex = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const up = (count) => `(?:\\.\\./){${count}}`;

/** Bare module specifiers a folder must never import. */
const electronModule = {
  regex: '^electron(?:/.*)?$',
  message: 'core/ and renderer/ never import Electron: only electron/ does (DESIGN.md §1).',
};
const nodeBuiltins = {
  regex: '^node:',
  message: 'The renderer runs sandboxed in a browser: no Node built-ins.',
};
/** "a/../b" specifiers would slip past the folder rules; always write the direct relative path. */
const nonNormalizedPath = {
  regex: '(?:^|/)(?!\\.\\.?/)[^/]+/\\.\\.(?:/|$)',
  message: 'Write import paths without "dir/.." detours, so the layering rule can read them.',
};

const isRootFile = (entry) => entry.endsWith('.ts');
/** A core/ entry as an import specifier tail: a folder 'wire' → 'wire/', a file 'result.ts' → 'result.js' (end). */
const specifierTail = (entry) =>
  isRootFile(entry) ? `${escapeRegex(entry.replace(/\.ts$/, '.js'))}$` : `${escapeRegex(entry)}/`;

function coreLayerPatterns(layer, depth) {
  const allowed = [layer, ...CORE_LAYERS[layer]].map(specifierTail).join('|');
  const folders = CORE_LAYERS[layer].filter((entry) => !isRootFile(entry));
  const files = CORE_LAYERS[layer].filter(isRootFile);
  const others = [...(folders.length > 0 ? [`core/{${folders.join(', ')}}`] : []), ...files.map((file) => `core/${file}`)];
  return [
    {
      // Reaching core/ itself, then anything but an allowed entry (this also catches leaving core/
      // altogether, which goes through '../' once more).
      regex: `^${up(depth + 1)}(?!(?:${allowed}))`,
      message:
        `core/${layer} may import only core/${layer}` +
        (others.length > 0 ? `, ${others.join(', ')}` : '') +
        ' (DESIGN.md §2: dependencies point downward only; the table is CORE_LAYERS in eslint.config.js).',
    },
    electronModule,
    nonNormalizedPath,
  ];
}

function coreRootPatterns() {
  const allowed = CORE_ROOT_FILES.map(specifierTail).join('|');
  return [
    {
      regex: `^(?:\\.\\./|\\./(?!(?:${allowed})))`,
      message: `Files directly in core/ are leaves: they may import only each other (${CORE_ROOT_FILES.join(', ')}).`,
    },
    electronModule,
    nonNormalizedPath,
  ];
}

function rendererPatterns(depth) {
  const allowed = RENDERER_ALLOWED_CORE.map((name) => `\\.\\./core/${escapeRegex(name)}\\.js$`).join('|');
  return [
    {
      // From renderer/src/<depth dirs>/x.ts, leaving src/ takes depth + 1 steps up; the repository root
      // is one more.
      regex: `^${up(depth + 1)}(?!${allowed})`,
      message:
        'renderer/src may import from outside itself only core/console/contract.ts (types), never other ' +
        'core modules nor electron/ (DESIGN.md §1, §5).',
    },
    electronModule,
    nodeBuiltins,
    nonNormalizedPath,
  ];
}

function nestedFiles(folder, depth) {
  return `${folder}/${'*/'.repeat(depth)}*.${SOURCE_EXTENSIONS}`;
}

function restrictImports(files, patterns) {
  return { files, rules: { 'no-restricted-imports': ['error', { patterns }] } };
}

const layeringConfigs = [
  restrictImports([`core/*.${SOURCE_EXTENSIONS}`], coreRootPatterns()),
  ...Object.keys(CORE_LAYERS).flatMap((layer) =>
    Array.from({ length: MAX_DEPTH + 1 }, (_, depth) =>
      restrictImports([nestedFiles(`core/${layer}`, depth)], coreLayerPatterns(layer, depth)),
    ),
  ),
  ...Array.from({ length: MAX_DEPTH + 1 }, (_, depth) =>
    restrictImports([nestedFiles('renderer/src', depth)], rendererPatterns(depth)),
  ),
  {
    // A folder under core/ that is not a known layer has no place in the dependency order yet.
    files: [`core/*/**/*.${SOURCE_EXTENSIONS}`],
    ignores: Object.keys(CORE_LAYERS).map((layer) => `core/${layer}/**`),
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'Program',
          message: 'Unknown core/ folder: add it to CORE_LAYERS in eslint.config.js with the layers it may import.',
        },
      ],
    },
  },
  {
    files: [`core/*/${'*/'.repeat(MAX_DEPTH + 1)}**/*.${SOURCE_EXTENSIONS}`, `renderer/src/${'*/'.repeat(MAX_DEPTH + 1)}**/*.${SOURCE_EXTENSIONS}`],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'Program', message: `Nested deeper than the layering rule reads (MAX_DEPTH ${MAX_DEPTH} in eslint.config.js).` },
      ],
    },
  },
];

/** Node's globals, for the plain JavaScript files (config, scripts, bin). */
const nodeGlobals = Object.fromEntries(
  [
    'AbortController', 'AbortSignal', 'Blob', 'Buffer', 'BroadcastChannel', 'DOMException', 'Event', 'EventTarget',
    'FormData', 'Headers', 'MessageChannel', 'Request', 'Response', 'TextDecoder', 'TextEncoder', 'URL',
    'URLSearchParams', 'WebSocket', 'atob', 'btoa', 'clearImmediate', 'clearInterval', 'clearTimeout', 'console',
    'crypto', 'fetch', 'performance', 'process', 'queueMicrotask', 'setImmediate', 'setInterval', 'setTimeout',
    'structuredClone',
  ].map((name) => [name, 'readonly']),
);

export default defineConfig(
  {
    ignores: ['node_modules/', 'dist/', 'out/', 'test-results/', 'playwright-report/', '.tmp/', 'coverage/'],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  js.configs.recommended,
  {
    files: TS_FILES,
    extends: [tseslint.configs.recommended],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: JS_FILES,
    languageOptions: { ecmaVersion: 'latest', sourceType: 'module', globals: nodeGlobals },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.cjs', '**/*.cts'],
    languageOptions: { sourceType: 'commonjs' },
  },
  {
    // CommonJS TypeScript (the sandboxed preload) imports with `import x = require(...)`, which
    // verbatimModuleSyntax requires there; plain require() calls stay forbidden.
    files: ['**/*.cts'],
    rules: { '@typescript-eslint/no-require-imports': ['error', { allowAsImport: true }] },
  },
  ...layeringConfigs,
);
