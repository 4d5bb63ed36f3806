/**
 * `handlespace token create|revoke|list`: the LAN console's bearer tokens in a history database (by default
 * the one `handlespace serve` and the desktop app use). A running server sees a new token at once and a
 * revocation within a second, so tokens are managed while it runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { defaultHistoryPath } from '../console/data-dir.js';
import { SqliteTokenStore, TOKEN_ROLES, type TokenInfo } from '../history/token-store.js';
import type { CliIo } from './io.js';

export const TOKEN_USAGE = `Usage: handlespace token <create|revoke|list> [options]

Bearer tokens for the console's LAN server (handlespace serve --http). Only a SHA-256 of each token is
stored; the token itself is printed once, when it is created.

  token create --role viewer|operator [--label TEXT]   print a new token (viewer: read; operator: commands)
  token revoke ID                                      refuse token ID from now on (servers notice within 1 s)
  token list [--json]                                  every token: id, role, label, created, last used, revoked

  --db PATH   the history database (default ${defaultHistoryPath()})
`;

function formatTime(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function formatTable(tokens: readonly TokenInfo[]): string {
  const header = ['id', 'role', 'created', 'last used', 'revoked', 'label'];
  const rows = tokens.map((t) => [String(t.id), t.role, formatTime(t.createdAt), formatTime(t.lastUsedAt), formatTime(t.revokedAt), t.label]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export async function tokenCommand(args: string[], io: CliIo): Promise<number> {
  const [action, ...rest] = args;
  if (action === undefined || action === 'help' || action === '--help' || action === '-h') {
    io.stdout(TOKEN_USAGE);
    return action === undefined ? 2 : 0;
  }
  if (action !== 'create' && action !== 'revoke' && action !== 'list') {
    io.stderr(`handlespace token: unknown action ${JSON.stringify(action)}\n${TOKEN_USAGE}`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: action === 'revoke',
      options: {
        db: { type: 'string' },
        role: { type: 'string' },
        label: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    io.stderr(`handlespace token ${action}: ${(e as Error).message}\n${TOKEN_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(TOKEN_USAGE);
    return 0;
  }
  const misplaced = (action !== 'create' ? (['role', 'label'] as const) : []).filter((name) => values[name] !== undefined);
  if (misplaced.length > 0 || (action !== 'list' && values.json)) {
    io.stderr(`handlespace token ${action}: ${[...misplaced.map((m) => `--${m}`), ...(action !== 'list' && values.json ? ['--json'] : [])].join(', ')} not taken here\n`);
    return 2;
  }
  let id: number | undefined;
  if (action === 'revoke') {
    const [idText, ...extra] = positionals;
    if (idText === undefined || extra.length > 0 || !/^\d{1,15}$/.test(idText) || Number(idText) < 1) {
      io.stderr(`handlespace token revoke: give one token ID (a positive integer, as \`handlespace token list\` shows)\n`);
      return 2;
    }
    id = Number(idText);
  }
  if (action === 'create') {
    if (values.role === undefined || !(TOKEN_ROLES as readonly string[]).includes(values.role)) {
      io.stderr(`handlespace token create: --role viewer or --role operator is required\n`);
      return 2;
    }
  }
  const file = values.db ?? defaultHistoryPath();
  if (action === 'create' && values.db === undefined) {
    // The default file lives in the user data folder, which may not exist yet.
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
    } catch (e) {
      io.stderr(`handlespace token create: cannot create the data folder for ${file}: ${(e as Error).message}\n`);
      return 1;
    }
  }
  if (action !== 'create' && !fs.existsSync(file)) {
    io.stderr(`handlespace token ${action}: there is no history database at ${file}\n`);
    return 1;
  }
  const opened = SqliteTokenStore.open(file);
  if (!opened.ok) {
    io.stderr(`handlespace token ${action}: ${opened.error.message}\n`);
    return 1;
  }
  const store = opened.value;
  try {
    switch (action) {
      case 'create': {
        const created = store.create(values.role ?? '', values.label ?? '');
        if (!created.ok) {
          io.stderr(`handlespace token create: ${created.error.message}\n`);
          return created.error.code === 'badLabel' || created.error.code === 'badRole' ? 2 : 1;
        }
        const { info, token } = created.value;
        // The token alone on stdout, so `TOKEN=$(handlespace token create ...)` works; the rest on stderr.
        io.stdout(`${token}\n`);
        io.stderr(`handlespace token: created token ${info.id} (${info.role}${info.label ? `, ${JSON.stringify(info.label)}` : ''}) in ${file}. It is shown only this once.\n`);
        return 0;
      }
      case 'revoke': {
        const revoked = store.revoke(id ?? 0);
        if (!revoked.ok) {
          io.stderr(`handlespace token revoke: ${revoked.error.message}\n`);
          return 1;
        }
        io.stdout(`token ${revoked.value.id} (${revoked.value.role}${revoked.value.label ? `, ${JSON.stringify(revoked.value.label)}` : ''}) revoked\n`);
        return 0;
      }
      case 'list': {
        const listed = store.list();
        if (!listed.ok) {
          io.stderr(`handlespace token list: ${listed.error.message}\n`);
          return 1;
        }
        if (values.json) io.stdout(listed.value.map((t) => JSON.stringify(t)).join('\n') + (listed.value.length > 0 ? '\n' : ''));
        else io.stdout(listed.value.length === 0 ? `no tokens in ${file}\n` : formatTable(listed.value));
        return 0;
      }
    }
  } finally {
    store.close();
  }
}
