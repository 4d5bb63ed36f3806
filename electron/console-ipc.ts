/**
 * The renderer's ConsoleApi over Electron IPC: one ipcMain handler per capability. Each handler first
 * checks the sender is our own renderer (assertTrustedSender), then validates the arguments
 * (ipc-protocol.ts: shapes, lengths, ranges; the renderer is not trusted), then asks the core host.
 * Handlers answer ConsoleResults and never throw for bad input, so the renderer sees `badRequest`, not an
 * IPC exception. Event streams are kept per web contents and end when its page goes away or reloads.
 */
import { ipcMain, type WebContents } from 'electron';
import type { ConsoleResult, ExportOutcome, ExportQuery } from '../core/console/contract.js';
import { badRequest, CALL_METHODS, parseCapabilityCall, parseExportQuery, parseStreamPosition } from '../core/console/ipc-protocol.js';
import type { ConsoleCallName, DesktopChannel } from '../renderer/src/desktop-bridge.js';
import type { CoreHostClient } from './core-host-client.js';
import { assertTrustedSender } from './security.js';

/** Event streams one page may hold open at once (the console needs one; a reload leaves none behind). */
const MAX_STREAMS_PER_PAGE = 16;
const MAX_STREAM_ID = 0x7fffffff;

export interface ConsoleIpcOptions {
  readonly host: CoreHostClient;
  /** Shows the save dialog for `query`; the chosen absolute path, or null when cancelled. */
  readonly chooseExportFile: (sender: WebContents, query: ExportQuery) => Promise<string | null>;
}

const channelOf = (capability: ConsoleCallName): DesktopChannel => `console:${capability}`;

export function registerConsoleIpc(options: ConsoleIpcOptions): void {
  const { host } = options;

  for (const method of CALL_METHODS) {
    ipcMain.handle(channelOf(method), (event, ...args: unknown[]) => {
      assertTrustedSender(event);
      const call = parseCapabilityCall(method, args);
      return call.ok ? host.call(call.value) : call;
    });
  }

  ipcMain.handle(channelOf('exportHistory'), async (event, ...args: unknown[]): Promise<ConsoleResult<ExportOutcome>> => {
    assertTrustedSender(event);
    if (args.length > 1) return { ok: false, error: badRequest('args', `takes 1 argument, not ${args.length}`) };
    const query = parseExportQuery(args[0]);
    if (!query.ok) return query;
    const file = await options.chooseExportFile(event.sender, query.value);
    if (file === null) return { ok: true, value: { rows: 0, bytes: 0, savedAs: null } };
    const written = await host.exportTo(query.value, file);
    return written.ok ? { ok: true, value: { ...written.value, savedAs: file } } : written;
  });

  const streamsByPage = new Map<number, Map<number, () => void>>();
  const endPageStreams = (pageId: number): void => {
    for (const end of streamsByPage.get(pageId)?.values() ?? []) end();
    streamsByPage.delete(pageId);
  };
  const streamsOf = (contents: WebContents): Map<number, () => void> => {
    let streams = streamsByPage.get(contents.id);
    if (!streams) {
      streams = new Map();
      streamsByPage.set(contents.id, streams);
      const pageId = contents.id;
      contents.once('destroyed', () => endPageStreams(pageId));
      // A reload or navigation drops the page's preload state, so its streams have no listener any more.
      contents.on('did-start-navigation', (details) => {
        if (details.isMainFrame && !details.isSameDocument) endPageStreams(pageId);
      });
    }
    return streams;
  };

  ipcMain.handle('console:subscribe' satisfies DesktopChannel, (event, subscription: unknown, position: unknown): ConsoleResult<null> => {
    assertTrustedSender(event);
    if (typeof subscription !== 'number' || !Number.isSafeInteger(subscription) || subscription < 1 || subscription > MAX_STREAM_ID) {
      return { ok: false, error: badRequest('subscription', `must be an integer between 1 and ${MAX_STREAM_ID}`) };
    }
    const from = parseStreamPosition(position);
    if (!from.ok) return from;
    const contents = event.sender;
    const streams = streamsOf(contents);
    if (streams.has(subscription)) return { ok: false, error: badRequest('subscription', `${subscription} is already open`) };
    if (streams.size >= MAX_STREAMS_PER_PAGE) return { ok: false, error: { code: 'tooLarge', message: `a page may hold ${MAX_STREAMS_PER_PAGE} event streams` } };
    const end = host.subscribe(from.value, (message) => {
      if (!contents.isDestroyed()) contents.send('console:event' satisfies DesktopChannel, { subscription, message });
    });
    streams.set(subscription, end);
    return { ok: true, value: null };
  });

  ipcMain.handle('console:unsubscribe' satisfies DesktopChannel, (event, subscription: unknown): ConsoleResult<null> => {
    assertTrustedSender(event);
    const streams = streamsByPage.get(event.sender.id);
    const end = typeof subscription === 'number' ? streams?.get(subscription) : undefined;
    if (!end) return { ok: false, error: { code: 'notFound', message: `no open event stream ${String(subscription).slice(0, 32)}` } };
    end();
    streams?.delete(subscription as number);
    return { ok: true, value: null };
  });
}
