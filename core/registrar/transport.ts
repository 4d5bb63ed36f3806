/**
 * The message transport behind the registrar (DESIGN.md §3): connections that carry whole ASAP messages.
 * TCP implements it today (tcp-transport.ts); an SCTP transport can implement the same interface later
 * without touching the registrar.
 */
export interface RemoteAddress {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

export interface MessageConnection {
  readonly id: number;
  readonly remote: RemoteAddress;
  /** Queues one encoded message. */
  send(message: Uint8Array): void;
  /** Bytes handed to the connection that the peer has not taken yet (the socket's write backlog). */
  readonly bufferedBytes: number;
  /** Calls `listener` each time the write backlog has drained. */
  onDrain(listener: () => void): void;
  /** Closes the connection; `reason` is logged and reported in the close event. */
  close(reason: string): void;
  readonly closed: boolean;
}

export interface ConnectionHandlers {
  onOpen(connection: MessageConnection): void;
  onMessage(connection: MessageConnection, message: Uint8Array): void;
  /** The stream could not be framed (bad length): the connection is being closed. */
  onFramingError(connection: MessageConnection, reason: string): void;
  onClose(connection: MessageConnection, reason: string): void;
}

export interface MessageServer {
  /** The bound address (with the real port when 0 was asked). */
  readonly address: RemoteAddress;
  readonly connectionCount: number;
  close(): Promise<void>;
}
