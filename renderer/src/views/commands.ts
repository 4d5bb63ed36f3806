/** What each operator command means, for buttons, dialog titles and the result line. */
import type { CommandOutcome, ElementView, OperatorCommand } from '../../../core/console/contract.js';
import { hex32 } from '../model/format.js';

export const COMMAND_LABELS: Record<OperatorCommand, string> = {
  drain: 'Drain',
  ready: 'Ready',
  maintenance: 'Maintenance',
  failover: 'Fail over',
  deregister: 'Deregister',
};

export const COMMAND_EFFECTS: Record<OperatorCommand, string> = {
  drain: 'New handle resolutions leave it out; subscribed pool users send no new work there and let in-flight requests finish.',
  ready: 'It is offered to pool users again.',
  maintenance: 'It is taken out at once: subscribed pool users move away from it now.',
  failover: 'Subscribed pool users are told to move away from it now, to the element the policy picks instead; it stays out of service (maintenance) until made ready.',
  deregister: 'It is removed from the pool, as if it had deregistered itself; pool users are told it left. It may register again.',
};

/** Whether a command makes sense for the element's admin state (the server decides in the end: conflict). */
export function commandApplies(command: OperatorCommand, element: ElementView): boolean {
  switch (command) {
    case 'drain':
      return element.admin.state === 'ready';
    case 'ready':
      return element.admin.state !== 'ready' || element.pendingMaintenance !== null;
    case 'maintenance':
      return element.admin.state !== 'maintenance';
    case 'failover':
    case 'deregister':
      return true;
  }
}

/** The dialog's question: "Drain element 0x… in pool echo?", "Drain 3 elements in pool echo?". */
export function commandQuestion(command: OperatorCommand, pool: string, element: string | number): string {
  const what = typeof element === 'number' ? `${element} elements` : `element ${element}`;
  switch (command) {
    case 'drain':
      return `Drain ${what} in pool ${pool}?`;
    case 'ready':
      return `Make ${what} in pool ${pool} ready?`;
    case 'maintenance':
      return `Put ${what} in pool ${pool} into maintenance?`;
    case 'failover':
      return `Fail over ${what} in pool ${pool}?`;
    case 'deregister':
      return `Deregister ${what} from pool ${pool}?`;
  }
}

/** Maintenance after drain, in words. */
export const MAINTENANCE_AFTER_DRAIN_EFFECT =
  'It is drained now (new requests go elsewhere, in-flight ones finish) and enters maintenance when it reports zero load or at the timeout; then subscribed pool users move away from it.';

export function describeOutcome(outcome: CommandOutcome): string {
  const parts = [`${COMMAND_LABELS[outcome.command]}: ${outcome.before} → ${outcome.after}`];
  if (outcome.replacementPeId !== null) parts.push(`pool users told to move to ${hex32(outcome.replacementPeId)}`);
  else if (outcome.command === 'failover' || outcome.after !== 'ready') parts.push('no replacement element left');
  if (outcome.pendingMaintenance) parts.push(`maintenance when idle, at the latest ${new Date(outcome.pendingMaintenance.deadline).toLocaleTimeString()}`);
  return parts.join('; ');
}
