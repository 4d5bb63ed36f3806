/**
 * The `handlespace` command line: dispatches the verb to its module. Verbs return an exit status; nothing
 * here calls process.exit, so every verb is testable in-process.
 */
import { decodeCommand, encodeCommand } from './codec-commands.js';
import { demoCommand } from './demo-command.js';
import { exportCommand, migrateCommand } from './history-commands.js';
import { processIo, type CliIo } from './io.js';
import { peCommand, puCommand } from './pool-commands.js';
import { serveCommand } from './serve-command.js';
import { tokenCommand } from './token-commands.js';

export const USAGE = `Usage: handlespace <command> [options]

Commands:
  decode [--asap|--enrp] [--stream] [HEX]   decode ASAP/ENRP bytes to JSON (hex argument or stdin)
  encode [JSON]                             encode the JSON form back to hex
  serve [--asap HOST:PORT] [...]            run the registrar headless
  demo [...]                                serve plus simulated pools, elements and users
  pe --pool NAME --listen HOST:PORT [...]   an echo service registered as a pool element
  pu --pool NAME [--registrar HOST:PORT]    resolve a pool and print its elements as JSON
  migrate --db PATH                         create or upgrade a history database
  export --db PATH --format csv|jsonl [...] stream history rows (CSV or JSON lines)
  token create|revoke|list [...]            bearer tokens for the console's LAN server
  help                                      this text

Run \`handlespace <command> --help\` for a command's options.
`;

type Verb = (args: string[], io: CliIo) => Promise<number>;

const verbs: Record<string, Verb> = {
  decode: decodeCommand,
  encode: encodeCommand,
  serve: (args, io) => serveCommand(args, io),
  demo: (args, io) => demoCommand(args, io),
  pe: (args, io) => peCommand(args, io),
  pu: (args, io) => puCommand(args, io),
  migrate: migrateCommand,
  export: (args, io) => exportCommand(args, io),
  token: tokenCommand,
};

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === 'help' || verb === '--help' || verb === '-h') {
    io.stdout(USAGE);
    return verb === undefined ? 2 : 0;
  }
  const run = verbs[verb];
  if (!run) {
    io.stderr(`handlespace: unknown command ${JSON.stringify(verb)}\n${USAGE}`);
    return 2;
  }
  return run(rest, io);
}
