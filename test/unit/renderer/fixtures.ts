/** Plain ElementView values for the renderer's model tests: every field filled, overrides per test. */
import type { AdminStateName, ElementView, HealthName, HistoryRowView } from '../../../core/console/contract.js';

export interface ElementOverrides extends Partial<Omit<ElementView, 'admin' | 'health'>> {
  readonly admin?: AdminStateName;
  readonly adminSince?: number;
  readonly adminCause?: string;
  readonly health?: HealthName;
  readonly healthSince?: number;
  readonly healthCause?: string;
}

export function element(peId: number, overrides: ElementOverrides = {}): ElementView {
  const { admin, adminSince, adminCause, health, healthSince, healthCause, ...rest } = overrides;
  return {
    pool: 'echo',
    peId,
    peIdHex: `0x${peId.toString(16).padStart(8, '0')}`,
    addresses: [`10.0.0.${peId % 256}:7000`],
    transport: 'tcp',
    admin: { state: admin ?? 'ready', since: adminSince ?? 1000, cause: adminCause ?? 'registered' },
    health: { state: health ?? 'up', since: healthSince ?? 1000, cause: healthCause ?? 'registered' },
    load: null,
    policy: 'Round Robin',
    policyValues: {},
    registrationLifeMs: 30_000,
    registeredAt: 1000,
    lastRegistrationAt: 1000,
    lastHeardAt: 1000,
    homeServerId: '0x00000001',
    asapAddress: '10.0.0.1:50000',
    unreachableReports: 0,
    pendingMaintenance: null,
    ...rest,
  };
}

export function historyRow(overrides: Partial<HistoryRowView>): HistoryRowView {
  return {
    time: 0,
    kind: 'health',
    pool: null,
    peId: null,
    state: null,
    cause: null,
    details: null,
    puAddress: null,
    puConnection: null,
    sequence: null,
    actor: null,
    role: null,
    action: null,
    target: null,
    reason: null,
    before: null,
    after: null,
    result: null,
    ...overrides,
  };
}
