import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

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
