/**
 * An in-memory CliIo for running `handlespace` verbs in-process: collects stdout and stderr, and serves a
 * fixed stdin.
 */
import type { CliIo } from '../../core/cli/io.js';

export function memoryIo(stdin?: string): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    readStdin: () => Promise.resolve(stdin),
    out: () => out,
    err: () => err,
  };
}
