import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page, type Request } from 'playwright-core';

/** Debian's chromium (the launcher script in /usr/bin wraps this binary); no browser is downloaded. */
const CHROMIUM = existsSync('/usr/lib/chromium/chromium') ? '/usr/lib/chromium/chromium' : '/usr/bin/chromium';

/**
 * Headless Chromium, nothing phoning home; Playwright gives it a fresh temporary profile and removes it on
 * close().
 */
export async function startBrowser(): Promise<{ browser: Browser; close(): Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}

/** The text tesseract reads in a PNG. */
export function ocr(png: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'vptest-ocr-'));
  try {
    writeFileSync(join(dir, 'shot.png'), png);
    return execFileSync('tesseract', [join(dir, 'shot.png'), 'stdout'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Chromium's error for a load that was in flight when a link or address changed anywhere on the host. */
const NETWORK_CHANGED = 'net::ERR_NETWORK_CHANGED';

/**
 * Opens `url()` in a page from `newPage()` and waits until `ready` (a selector) shows; answers that page.
 * Chromium fails every load in flight when a link or an address changes on the host, and the tests running
 * beside this one make bridges and guests' tap devices all the time: a page whose module scripts failed that
 * way never starts. Only then is that page closed and a new one opened, at a fresh `url()` (a console ticket
 * is used once), at most `attempts` times; any other failure is the test's, and says what the page logged.
 */
export async function openWhenSteady(newPage: () => Promise<Page>, url: () => Promise<string>, ready: string, attempts = 4): Promise<Page> {
  for (let attempt = 1; ; attempt++) {
    const page = await newPage();
    const said: string[] = [];
    page.on('console', (m) => said.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => said.push(`error: ${e.message}`));
    let changed: () => void = () => {};
    const networkChanged = new Promise<'changed'>((resolve) => (changed = () => resolve('changed')));
    page.on('requestfailed', (r: Request) => {
      if (r.failure()?.errorText === NETWORK_CHANGED) changed();
    });
    const loaded = page
      .goto(await url())
      .then(() => page.waitForSelector(ready))
      .then(() => 'ready' as const);
    const outcome = await Promise.race([loaded, networkChanged]).catch(async (err: Error) => {
      const status = await page
        .locator('#status')
        .innerText({ timeout: 1000 })
        .catch(() => '?');
      throw new Error(`${err.message}\nstatus: ${status}\npage console:\n${said.join('\n')}`, { cause: err });
    });
    if (outcome === 'ready') return page;
    await page.close();
    await loaded.catch(() => {}); // ended by the close: not the answer
    if (attempt >= attempts) throw new Error(`the host's network changed under ${attempts} loads in a row:\n${said.join('\n')}`);
  }
}
