/**
 * The state of the console's link to its server, which the header always shows: whether the live stream
 * is up, being re-established, or refused. Transports report it; the view only reads it.
 */
export type ConnectionState =
  /** First contact not made yet. */
  | 'connecting'
  /** The event stream is open and the model is current. */
  | 'live'
  /** The stream dropped; retrying with back-off. The model shows the last known state. */
  | 'reconnecting'
  /** The server refused the token: a new console URL (with #token=...) is needed. */
  | 'unauthorized';

export interface ConnectionWatch {
  readonly state: ConnectionState;
  /** Called on every change; returns the function that stops listening. */
  watch(listener: (state: ConnectionState, detail: string) => void): () => void;
}

/** A ConnectionWatch a transport drives with `set`. */
export class ConnectionStatus implements ConnectionWatch {
  private current: ConnectionState = 'connecting';
  private readonly listeners = new Set<(state: ConnectionState, detail: string) => void>();

  get state(): ConnectionState {
    return this.current;
  }

  set(state: ConnectionState, detail = ''): void {
    if (state === this.current && detail === '') return;
    this.current = state;
    for (const listener of this.listeners) listener(state, detail);
  }

  watch(listener: (state: ConnectionState, detail: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
