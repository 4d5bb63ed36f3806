/**
 * Child-process plumbing the benchmarks share: a bounded wait, waiting for an exit, and reaping a child
 * that does not exit on its own (SIGKILL, then SIGCONT so a SIGSTOPped child dies too).
 */
import type { ChildProcess } from 'node:child_process';

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Waits for a child to exit on its own; kills it after `ms`. */
export async function reap(child: ChildProcess, ms: number): Promise<void> {
  try {
    await withTimeout(exited(child), ms, 'exit');
  } catch {
    child.kill('SIGKILL');
    child.kill('SIGCONT');
    await exited(child);
  }
}
