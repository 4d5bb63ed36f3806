#!/usr/bin/env node
// The `handlespace` command. The sources are TypeScript run through tsx's loader, so `npx handlespace`
// works straight after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../core/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
