/**
 * Who owns which element, as this registrar's handlespace says: per home registrar the running PE checksum
 * accumulator (checksum.ts) and the element count, kept incrementally from the registrar's events so a
 * heartbeat or an audit never walks the handlespace. Keyed by pool and PE identifier, not by record
 * object, because an element keeps its key across re-registrations and moves between homes.
 */
import { accumulate, deduct, elementPartialSum, wireChecksum } from './checksum.js';

interface Entry {
  owner: number;
  readonly partial: number;
  readonly poolHandle: Uint8Array;
  readonly peId: number;
}

interface OwnerTotals {
  accumulator: number;
  count: number;
}

export function elementKey(poolKey: string, peId: number): string {
  return `${poolKey}|${peId}`;
}

export class OwnershipLedger {
  private readonly entries = new Map<string, Entry>();
  private readonly owners = new Map<number, OwnerTotals>();

  /** Records (or moves) the element under `owner`. */
  set(key: string, poolHandle: Uint8Array, peId: number, owner: number): void {
    const existing = this.entries.get(key);
    if (existing) {
      if (existing.owner === owner) return;
      this.take(existing.owner, existing.partial);
      existing.owner = owner;
      this.give(owner, existing.partial);
      return;
    }
    const partial = elementPartialSum(poolHandle, peId);
    this.entries.set(key, { owner, partial, poolHandle, peId });
    this.give(owner, partial);
  }

  delete(key: string): void {
    const existing = this.entries.get(key);
    if (!existing) return;
    this.entries.delete(key);
    this.take(existing.owner, existing.partial);
  }

  ownerOf(key: string): number | undefined {
    return this.entries.get(key)?.owner;
  }

  /** The pool handle and identifier filed under `key`. */
  identify(key: string): { readonly poolHandle: Uint8Array; readonly peId: number } | undefined {
    return this.entries.get(key);
  }

  /** The PE Checksum parameter value for the elements `owner` owns (0xffff-complement of nothing when none). */
  checksum(owner: number): number {
    return wireChecksum(this.owners.get(owner)?.accumulator ?? 0);
  }

  count(owner: number): number {
    return this.owners.get(owner)?.count ?? 0;
  }

  /** Owners with at least one element. */
  ownerIds(): number[] {
    return [...this.owners.keys()];
  }

  /** Keys of the elements `owner` owns (a fresh array: safe to change the ledger while walking it). */
  keysOf(owner: number): string[] {
    const out: string[] = [];
    for (const [key, entry] of this.entries) if (entry.owner === owner) out.push(key);
    return out;
  }

  get size(): number {
    return this.entries.size;
  }

  private give(owner: number, partial: number): void {
    let totals = this.owners.get(owner);
    if (!totals) {
      totals = { accumulator: 0, count: 0 };
      this.owners.set(owner, totals);
    }
    totals.accumulator = accumulate(totals.accumulator, partial);
    totals.count++;
  }

  private take(owner: number, partial: number): void {
    const totals = this.owners.get(owner);
    if (!totals) return;
    totals.accumulator = deduct(totals.accumulator, partial);
    totals.count--;
    if (totals.count === 0) this.owners.delete(owner);
  }
}
