/**
 * Elements by the registrar session that registered them, so a lost connection finds its elements without
 * scanning the handlespace: one intrusive doubly linked list per connection, O(1) to add or remove.
 * Elements learned from a peer (connectionId undefined) are not listed.
 */
import type { ElementNode, ElementRecord } from './element.js';

export class ConnectionIndex {
  private readonly heads = new Map<number, ElementNode>();

  add(node: ElementNode): void {
    const connectionId = node.record.connectionId;
    if (connectionId === undefined) return;
    const head = this.heads.get(connectionId);
    node.connPrev = undefined;
    node.connNext = head;
    if (head) head.connPrev = node;
    this.heads.set(connectionId, node);
  }

  /** Unlinks the node from the list of its record's current connectionId. */
  remove(node: ElementNode): void {
    const connectionId = node.record.connectionId;
    if (connectionId === undefined) return;
    const { connPrev: prev, connNext: next } = node;
    if (prev) prev.connNext = next;
    else if (next) this.heads.set(connectionId, next);
    else if (this.heads.get(connectionId) === node) this.heads.delete(connectionId);
    if (next) next.connPrev = prev;
    node.connPrev = undefined;
    node.connNext = undefined;
  }

  /** A fresh array: the caller may remove elements while walking it. */
  elementsOf(connectionId: number): ElementRecord[] {
    const out: ElementRecord[] = [];
    for (let node = this.heads.get(connectionId); node; node = node.connNext) out.push(node.record);
    return out;
  }

  get connectionCount(): number {
    return this.heads.size;
  }
}
