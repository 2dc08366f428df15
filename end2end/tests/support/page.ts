// Page helpers shared by the specs: proving a page was never reloaded.

import { expect, Page } from '@playwright/test';

/** Marks the document so a reload would be noticed. */
export async function markDocument(page: Page) {
  await page.evaluate(() => ((window as unknown as { celadonMark: number }).celadonMark = 42));
}

/** Fails if the page was reloaded since `markDocument`. */
export async function expectSameDocument(page: Page) {
  expect(await page.evaluate(() => (window as unknown as { celadonMark?: number }).celadonMark)).toBe(42);
}
