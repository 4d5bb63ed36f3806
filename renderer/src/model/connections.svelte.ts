/**
 * The registrars the console watches at once. In the desktop app: the embedded registrar (the preload
 * bridge; on by default, can be turned off) plus remote `handlespace serve` consoles; in a browser: the
 * server that served the page plus remote ones. Each connection has its own transport and LiveModel, so its
 * state (live, reconnecting, unauthorized, incompatible version) and role are its own.
 *
 * Tokens of remote consoles: in the desktop app the main process keeps them encrypted with the OS keychain
 * (loadConnections / saveConnections); in a browser only in memory unless the operator ticks "remember on
 * this device" (localStorage).
 */
import type { ConsoleApi, ElementView } from '../../../core/console/contract.js';
import { ConnectionStatus, type ConnectionWatch } from '../api/connection-state.js';
import { LanConsoleApi } from '../api/lan-transport.js';
import type { DesktopBridge, SavedConnections } from '../desktop-bridge.js';
import { LiveModel } from './live-model.svelte.js';

export const REMEMBERED_STORAGE_KEY = 'handlespace.console.connections';

export type ConnectionKind = 'embedded' | 'page' | 'remote';

export interface ConnectionSpec {
  readonly kind: ConnectionKind;
  /** Origin "http(s)://HOST:PORT" (null for the embedded registrar). */
  readonly url: string | null;
  readonly label: string;
  /** Null: no token yet (the list asks for one). */
  readonly token: string | null;
  /** Browser only: kept in localStorage. */
  readonly remember: boolean;
}

/** What the views show for a connection's state: the transport's, or "incompatible" once the snapshot says so. */
export type ConnectionDisplayState = 'connecting' | 'live' | 'reconnecting' | 'unauthorized' | 'incompatible' | 'noToken';

/** "http://h:8347/#token=x" → "http://h:8347"; null for anything but an http(s) URL. */
export function originOf(text: string): string | null {
  try {
    const url = new URL(text.trim());
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : null;
  } catch {
    return null;
  }
}

let nextId = 1;

export class Connection {
  readonly id: string;
  readonly spec: ConnectionSpec;
  readonly api: ConsoleApi | null;
  readonly model: LiveModel | null;

  constructor(spec: ConnectionSpec, transport: { api: ConsoleApi; watch: ConnectionWatch } | null) {
    this.id = `c${nextId++}`;
    this.spec = spec;
    this.api = transport?.api ?? null;
    this.model = transport ? new LiveModel(transport.api, transport.watch) : null;
  }

  get state(): ConnectionDisplayState {
    if (!this.model) return 'noToken';
    if (this.model.incompatible !== null) return 'incompatible';
    return this.model.connection;
  }

  get serverId(): string | null {
    return this.model?.registrar?.serverId ?? null;
  }

  /** "embedded registrar", "this server", or the label / URL. */
  get title(): string {
    if (this.spec.kind === 'embedded') return 'Embedded registrar';
    return this.spec.label || this.spec.url || 'this server';
  }
}

function lanTransport(origin: string | undefined, token: string): { api: ConsoleApi; watch: ConnectionWatch } {
  const api = new LanConsoleApi({ ...(origin === undefined ? {} : { origin }), token });
  return { api, watch: api.connection };
}

function embeddedTransport(desktop: DesktopBridge): { api: ConsoleApi; watch: ConnectionWatch } {
  const watch = new ConnectionStatus();
  desktop.onCoreStatus((status) => {
    if (status.state === 'restarting') watch.set('reconnecting', `the core restarts (attempt ${status.attempt}): ${status.reason}`);
    else if (status.state === 'stopped') watch.set('reconnecting', `the core stopped: ${status.reason}`);
    else if (status.state === 'starting') watch.set('connecting', 'the core is starting');
  });
  return { api: desktop.console, watch };
}

export class Connections {
  list = $state.raw<readonly Connection[]>([]);
  /** What the operator should know about keeping tokens (from the desktop's main process). */
  storageNote = $state<string | null>(null);
  private readonly desktop: DesktopBridge | undefined;
  private readonly localStorage: Storage;

  constructor(desktop: DesktopBridge | undefined, localStorage: Storage) {
    this.desktop = desktop;
    this.localStorage = localStorage;
  }

  get kind(): 'desktop' | 'lan' {
    return this.desktop ? 'desktop' : 'lan';
  }

  /** The first connection: the embedded registrar, else the page's server, else the first remote. */
  get primary(): Connection | undefined {
    return this.list[0];
  }

  get embeddedEnabled(): boolean {
    return this.list.some((c) => c.spec.kind === 'embedded');
  }

  /** Starts with the page's connection (token or none) and the remembered remotes. */
  async start(pageToken: string | undefined): Promise<void> {
    if (this.desktop) {
      const saved = await this.desktop.loadConnections().catch(() => undefined);
      const state = saved?.ok ? saved.value : { embedded: true, remotes: [], tokensKept: false, note: 'The saved connections could not be loaded.' };
      this.storageNote = state.note;
      const specs: ConnectionSpec[] = [];
      if (state.embedded) specs.push({ kind: 'embedded', url: null, label: '', token: null, remember: true });
      for (const remote of state.remotes) specs.push({ kind: 'remote', url: remote.url, label: remote.label, token: remote.token, remember: true });
      this.replaceAll(specs.map((spec) => this.open(spec)));
      return;
    }
    const specs: ConnectionSpec[] = [{ kind: 'page', url: null, label: '', token: pageToken ?? null, remember: false }];
    for (const remote of this.remembered()) specs.push({ kind: 'remote', url: remote.url, label: remote.label, token: remote.token, remember: true });
    this.replaceAll(specs.map((spec) => this.open(spec)));
  }

  stop(): void {
    for (const connection of this.list) connection.model?.stop();
    this.list = [];
  }

  private open(spec: ConnectionSpec): Connection {
    let transport: { api: ConsoleApi; watch: ConnectionWatch } | null = null;
    if (spec.kind === 'embedded' && this.desktop) transport = embeddedTransport(this.desktop);
    else if (spec.token !== null) transport = lanTransport(spec.kind === 'page' ? undefined : (spec.url ?? undefined), spec.token);
    const connection = new Connection(spec, transport);
    connection.model?.start();
    return connection;
  }

  private replaceAll(next: readonly Connection[]): void {
    for (const old of this.list) if (!next.includes(old)) old.model?.stop();
    this.list = next;
  }

  /** Adds a remote console (or gives an existing one a new token). Returns the problem, or null. */
  async addRemote(urlText: string, token: string, label: string, remember: boolean): Promise<string | null> {
    const url = originOf(urlText);
    if (url === null) return 'Give the console URL, http(s)://HOST:PORT.';
    if (token.trim() === '') return 'A token is required (handlespace token create --role viewer makes one).';
    const spec: ConnectionSpec = { kind: 'remote', url, label: label.trim(), token: token.trim(), remember: this.desktop ? true : remember };
    const existing = this.list.find((c) => c.spec.kind === 'remote' && c.spec.url === url);
    const fresh = this.open(spec);
    this.replaceAll(existing ? this.list.map((c) => (c === existing ? fresh : c)) : [...this.list, fresh]);
    await this.persist();
    return null;
  }

  /** A new token for a connection (after "unauthorized"): a fresh transport, so retries start again. */
  async retoken(connection: Connection, token: string): Promise<void> {
    if (token.trim() === '') return;
    const fresh = this.open({ ...connection.spec, token: token.trim() });
    this.replaceAll(this.list.map((c) => (c === connection ? fresh : c)));
    if (connection.spec.kind === 'remote') await this.persist();
  }

  /** Forgets a connection's token (sign out): it stays listed and asks for a token again. */
  clearToken(connection: Connection): void {
    const fresh = this.open({ ...connection.spec, token: null });
    this.replaceAll(this.list.map((c) => (c === connection ? fresh : c)));
  }

  async remove(connection: Connection): Promise<void> {
    this.replaceAll(this.list.filter((c) => c !== connection));
    await this.persist();
  }

  /** Desktop only: watch the embedded registrar or not. */
  async setEmbedded(enabled: boolean): Promise<void> {
    if (!this.desktop || enabled === this.embeddedEnabled) return;
    if (enabled) this.replaceAll([this.open({ kind: 'embedded', url: null, label: '', token: null, remember: true }), ...this.list]);
    else this.replaceAll(this.list.filter((c) => c.spec.kind !== 'embedded'));
    await this.persist();
  }

  /** The connection whose registrar owns an element (its home), else the one it was seen on. */
  ownerOf(element: ElementView, seenOn: Connection): Connection {
    return this.list.find((c) => c.serverId !== null && c.serverId === element.homeServerId && c.model?.pools.get(element.pool)?.elements.has(element.peId)) ?? seenOn;
  }

  private remembered(): { url: string; label: string; token: string }[] {
    try {
      const parsed: unknown = JSON.parse(this.localStorage.getItem(REMEMBERED_STORAGE_KEY) ?? '[]');
      if (!Array.isArray(parsed)) return [];
      return parsed.flatMap((item: unknown) => {
        if (typeof item !== 'object' || item === null) return [];
        const { url, label, token } = item as Record<string, unknown>;
        const origin = typeof url === 'string' ? originOf(url) : null;
        return origin !== null && typeof token === 'string' && token !== '' ? [{ url: origin, label: typeof label === 'string' ? label : '', token }] : [];
      });
    } catch {
      return [];
    }
  }

  private async persist(): Promise<void> {
    const remotes = this.list.filter((c) => c.spec.kind === 'remote' && c.spec.url !== null);
    if (this.desktop) {
      const list: SavedConnections = { embedded: this.embeddedEnabled, remotes: remotes.map((c) => ({ url: c.spec.url ?? '', label: c.spec.label, token: c.spec.token })) };
      const saved = await this.desktop.saveConnections(list).catch((error: unknown) => ({ ok: false as const, error: { code: 'internal' as const, message: String(error) } }));
      this.storageNote = saved.ok ? saved.value.note : `The connections could not be saved: ${saved.error.message}`;
      return;
    }
    const kept = remotes.filter((c) => c.spec.remember).map((c) => ({ url: c.spec.url, label: c.spec.label, token: c.spec.token }));
    if (kept.length > 0) this.localStorage.setItem(REMEMBERED_STORAGE_KEY, JSON.stringify(kept));
    else this.localStorage.removeItem(REMEMBERED_STORAGE_KEY);
  }
}
