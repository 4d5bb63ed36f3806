/**
 * One pool: its members by PE identifier, the traits its first element fixed (policy type, transport kind,
 * data/control use) and the selection index of its policy. The Pool object is also the read-only PoolView
 * handed out; its internals are ES private fields, so a view serializes to its plain traits only.
 */
import type { Policy, UserTransport } from '../wire/types.js';
import { isSelectable, type ElementNode, type ElementRecord } from './element.js';
import type { PoolTraits } from './registration-rules.js';
import { createSelectionIndex, type SelectionIndex } from './selection/selection-index.js';

export interface PoolView {
  readonly key: string;
  readonly handle: Uint8Array;
  readonly policyType: number;
  /** `{ type }` and nothing else. */
  readonly overallPolicy: Policy;
  readonly transportKind: UserTransport['kind'];
  /** 0 data only, 1 data plus control; kinds other than SCTP and TCP are always 0. */
  readonly transportUse: number;
  readonly size: number;
  /** Live: iterates the current members (removing elements while iterating is safe). */
  elements(): Iterable<ElementRecord>;
}

/** Reused by every resolution (the handlespace is single-threaded and `resolve` does not re-enter). */
const selected: ElementNode[] = [];

export class Pool implements PoolView, PoolTraits {
  readonly policyType: number;
  readonly overallPolicy: Policy;
  readonly transportKind: UserTransport['kind'];
  readonly transportUse: number;
  readonly #referenceTransport: UserTransport;
  readonly #members = new Map<number, ElementNode>();
  readonly #selection: SelectionIndex;

  constructor(
    readonly key: string,
    readonly handle: Uint8Array,
    traits: PoolTraits,
    random: () => number,
  ) {
    this.policyType = traits.policyType;
    this.overallPolicy = traits.overallPolicy;
    this.transportKind = traits.transportKind;
    this.transportUse = traits.transportUse;
    this.#referenceTransport = traits.referenceTransport;
    this.#selection = createSelectionIndex(traits.policyType, random);
  }

  /** The first element's user transport: what a 0x7 rejection shows as the pool's transport. */
  get referenceTransport(): UserTransport {
    return this.#referenceTransport;
  }

  get size(): number {
    return this.#members.size;
  }

  /** Selectable elements the policy can currently choose from. */
  get selectableCount(): number {
    return this.#selection.size;
  }

  /** Re-iterable: each `for ... of` walks the members afresh. */
  elements(): Iterable<ElementRecord> {
    const members = this.#members;
    return {
      *[Symbol.iterator](): Iterator<ElementRecord> {
        for (const node of members.values()) yield node.record;
      },
    };
  }

  member(peId: number): ElementNode | undefined {
    return this.#members.get(peId);
  }

  add(node: ElementNode): void {
    this.#members.set(node.record.id, node);
    if (isSelectable(node.record)) this.#selection.add(node);
  }

  remove(node: ElementNode): void {
    this.#members.delete(node.record.id);
    this.#selection.remove(node);
  }

  /** The element's policy values or degradation changed: re-key it if it is selectable. */
  policyValuesChanged(node: ElementNode): void {
    if (isSelectable(node.record)) this.#selection.update(node);
  }

  /** Admin state or health changed: add the element to or remove it from the selection index. */
  selectabilityChanged(node: ElementNode, wasSelectable: boolean): void {
    const selectable = isSelectable(node.record);
    if (selectable === wasSelectable) return;
    if (selectable) this.#selection.add(node);
    else this.#selection.remove(node);
  }

  resolve(items: number): ElementRecord[] {
    const k = Math.floor(items);
    if (!(k >= 1)) return [];
    selected.length = 0;
    this.#selection.select(k, selected);
    const records = new Array<ElementRecord>(selected.length);
    for (let i = 0; i < selected.length; i++) records[i] = (selected[i] as ElementNode).record;
    selected.length = 0;
    return records;
  }
}
