/**
 * AbortSignals and pauses driven by the injectable clock (core/clock.ts), so deadlines and back-off in the
 * SDKs follow a ManualClock in tests exactly like the system clock in production.
 */
import type { Clock } from '../clock.js';

export interface Deadline {
  /** Aborts when the time is up or when the parent signal aborts. */
  readonly signal: AbortSignal;
  /** True when the deadline (not the parent) caused the abort. */
  readonly expired: boolean;
  /** Stops the timer and detaches from the parent; call when the guarded work is over. */
  dispose(): void;
}

/** A signal that aborts after `ms` on `clock`, or as soon as `parent` aborts. */
export function deadline(clock: Clock, ms: number, parent?: AbortSignal): Deadline {
  const controller = new AbortController();
  let expired = false;
  const onParentAbort = (): void => controller.abort(parent?.reason);
  const timer = clock.setTimeout(() => {
    expired = true;
    controller.abort(new Error(`deadline of ${ms} ms passed`));
  }, ms);
  if (parent?.aborted) controller.abort(parent.reason);
  else parent?.addEventListener('abort', onParentAbort, { once: true });
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    dispose() {
      clock.clearTimeout(timer);
      parent?.removeEventListener('abort', onParentAbort);
    },
  };
}

/**
 * Waits `ms` on `clock`. Resolves 'elapsed', 'aborted' (signal) or 'woken' (when `wake` is called first:
 * it is handed the function that ends the pause early).
 */
export function pause(clock: Clock, ms: number, signal?: AbortSignal, wake?: (end: () => void) => () => void): Promise<'elapsed' | 'aborted' | 'woken'> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve('aborted');
      return;
    }
    const wakeHook: { detach?: () => void } = {};
    let done = false;
    const finish = (outcome: 'elapsed' | 'aborted' | 'woken'): void => {
      if (done) return;
      done = true;
      clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      wakeHook.detach?.();
      resolve(outcome);
    };
    const onAbort = (): void => finish('aborted');
    const timer = clock.setTimeout(() => finish('elapsed'), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    wakeHook.detach = wake?.(() => finish('woken'));
    if (done) wakeHook.detach?.();
  });
}
