/** Steps the e2e tests share: going to a view, finding an element's row, giving a command in the dialog. */
import type { Locator, Page } from 'playwright-core';

export async function goTo(page: Page, hash: string): Promise<void> {
  await page.evaluate(`window.location.hash = ${JSON.stringify(hash)}`);
}

export async function openPool(page: Page, pool: string): Promise<void> {
  await goTo(page, `#/pool/${encodeURIComponent(pool)}`);
  await page.locator(`[data-view="pool"][data-pool="${pool}"]`).waitFor();
}

export function row(page: Page, peId: number): Locator {
  return page.locator(`[role="row"][data-pe-id="${peId}"]`);
}

export async function waitForRowState(page: Page, peId: number, state: string, timeoutMs = 5000): Promise<void> {
  await page.locator(`[role="row"][data-pe-id="${peId}"][data-state="${state}"]`).waitFor({ timeout: timeoutMs });
}

/** Opens the element's detail and the confirmation dialog of a command. */
export async function openCommand(page: Page, peId: number, command: string): Promise<Locator> {
  await row(page, peId).getByRole('button', { name: /^Details of/ }).click();
  await page.locator(`[data-detail-pe="${peId}"]`).waitFor();
  await page.locator(`[data-detail-pe="${peId}"] [data-command="${command}"]`).click();
  const dialog = page.locator(`dialog[data-command-dialog="${command}"]`);
  await dialog.waitFor();
  return dialog;
}

/** Milliseconds from `start` until `condition` holds in the page (polled every animation frame). */
export async function msUntil(page: Page, start: number, condition: () => Promise<unknown>): Promise<number> {
  await condition();
  return Date.now() - start;
}
