/**
 * The console's Components view: the CSP receiver's table (every RSPLIB or handlespace registrar, pool
 * element and pool user reporting over the Component Status Protocol) as plain JSON for the ConsoleApi,
 * merged with our own registrar's view where the ids match (a CSP registrar whose object id is our server
 * id; a CSP pool element whose object id is an element registered with us). Owns that shape and the
 * naming of protocols and PPIDs as cspmonitor names them; nothing here changes the table.
 */
import { formatComponentId, type CspComponentTable, type CspComponent } from '../csp/csp-component-table.js';
import { CSP_DURATION_UNKNOWN, componentGroupOf, componentObjectOf, componentRoleOf, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, PPID_ASAP, PPID_ENRP, type CspAssociation } from '../csp/csp-codec.js';
import type { Registrar } from '../registrar/registrar.js';
import { poolHandleToText } from '../wire/json.js';

import type { ComponentAssociationView, ComponentRoleName, ComponentsSnapshot, ComponentView, OwnView } from './contract.js';

export type { ComponentAssociationView, ComponentRoleName, ComponentsSnapshot, ComponentView, OwnView };

/** The slice of our registrar's state the merge needs. */
export interface OwnRegistrarView {
  readonly registrarId: number;
  /** Pools (operator-readable names) in which an element with this id is registered; empty if none. */
  poolsOfElement(peId: number): readonly string[];
}

/** Our registrar's view, indexed once per snapshot (one pass over the handlespace). */
export function ownRegistrarView(registrar: Registrar): OwnRegistrarView {
  const pools = new Map<number, string[]>();
  for (const pool of registrar.handlespace.pools()) {
    const name = poolHandleToText(pool.handle);
    for (const element of pool.elements()) {
      const list = pools.get(element.id);
      if (list) list.push(name);
      else pools.set(element.id, [name]);
    }
  }
  return { registrarId: registrar.serverId, poolsOfElement: (peId) => pools.get(peId) ?? [] };
}

const roleName = (id: bigint): ComponentRoleName => componentRoleOf(id) ?? 'unknown';

function formatObjectId(id: bigint): string {
  const object = componentObjectOf(id);
  // cspmonitor prints PR and PE objects with 8 digits, PUs with 14.
  const digits = componentGroupOf(id) === 3 ? 14 : 8;
  return `0x${object.toString(16).padStart(digits, '0')}`;
}

function protocolName(protocol: number): string {
  switch (protocol) {
    case IPPROTO_TCP:
      return 'TCP';
    case IPPROTO_UDP:
      return 'UDP';
    case IPPROTO_SCTP:
      return 'SCTP';
    default:
      return `0x${protocol.toString(16).padStart(4, '0')}`;
  }
}

function ppidName(ppid: number): string | null {
  switch (ppid) {
    case 0:
      return 'Data';
    case PPID_ASAP:
      return 'ASAP';
    case PPID_ENRP:
      return 'ENRP';
    default:
      return null;
  }
}

const microsToMs = (micros: bigint): number => Number(micros / 1000n);

export function associationView(a: CspAssociation): ComponentAssociationView {
  return {
    peerId: formatComponentId(a.receiverId),
    peerRole: roleName(a.receiverId),
    protocol: protocolName(a.protocol),
    protocolNumber: a.protocol,
    ppidName: ppidName(a.ppid),
    ppid: a.ppid,
    durationMs: a.durationMicros === CSP_DURATION_UNKNOWN ? null : microsToMs(a.durationMicros),
    flags: a.flags,
  };
}

function ownViewOf(component: CspComponent, own: OwnRegistrarView | undefined): OwnView | null {
  if (!own) return null;
  const object = component.object;
  // Our ids are 32-bit; a larger object id cannot be one of ours.
  if (object > 0xffffffffn) return null;
  if (component.role === 'registrar' && Number(object) === own.registrarId) return { kind: 'thisRegistrar' };
  if (component.role === 'poolElement') {
    const pools = own.poolsOfElement(Number(object));
    if (pools.length > 0) return { kind: 'registeredElement', pools };
  }
  return null;
}

export function componentView(component: CspComponent, now: number, own?: OwnRegistrarView): ComponentView {
  const source = component.source;
  return {
    id: formatComponentId(component.id),
    role: component.role ?? 'unknown',
    group: component.group,
    objectId: formatObjectId(component.id),
    location: component.location,
    status: component.status,
    workload: component.workload ?? null,
    uptimeMs: microsToMs(component.uptimeMicros),
    reportIntervalMs: component.reportIntervalMs,
    firstReportAt: component.firstReportAt,
    lastReportAt: component.lastReportAt,
    lastReportAgeMs: Math.max(0, now - component.lastReportAt),
    purgeInMs: Math.max(0, component.purgeAt - now),
    reports: component.reports,
    source: source.address.includes(':') ? `[${source.address}]:${source.port}` : `${source.address}:${source.port}`,
    associations: component.associations.map(associationView),
    own: ownViewOf(component, own),
  };
}

/** The whole table as JSON, in cspmonitor's order (registrars, elements, users; then by location). */
export function componentsSnapshot(table: CspComponentTable, now: number, own?: OwnRegistrarView): ComponentsSnapshot {
  const components = table.list().map((c) => componentView(c, now, own));
  const counts = { registrars: 0, poolElements: 0, poolUsers: 0, other: 0 };
  for (const c of components) {
    if (c.role === 'registrar') counts.registrars++;
    else if (c.role === 'poolElement') counts.poolElements++;
    else if (c.role === 'poolUser') counts.poolUsers++;
    else counts.other++;
  }
  return { components, counts, counters: table.counters() };
}
