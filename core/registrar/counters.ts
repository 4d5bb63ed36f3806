/**
 * The registrar's counters: messages by type, decode failures by rule and cause, rejections, closed
 * connections. Plain numbers in maps, cheap on the hot path, read by the console and the tests.
 */
export class Counters {
  private readonly values = new Map<string, number>();

  add(name: string, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.values.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
