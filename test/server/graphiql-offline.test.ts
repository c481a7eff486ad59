import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * GraphiQL on a host without internet access (most hypervisors): Debian's chromium loads the page with every
 * request to anywhere but the server refused, and the editor must still come up.
 */
let s: TestServer;
let browser: Browser;

before(async () => {
  s = await startTestServer({ development: true });
  // launch() gives the browser a fresh temporary profile of its own and removes it on close().
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});
after(async () => {
  await browser?.close();
  await s?.stop();
});

test('GraphiQL renders its editor from the server alone, asking no other host for anything', async () => {
  const server = new URL(s.url);
  const elsewhere: string[] = [];
  const context = await browser.newContext();
  try {
    // Only the server answers; every other request is recorded and refused, as on a host without a route out.
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.host === server.host || url.protocol === 'data:' || url.protocol === 'blob:') return route.continue();
      elsewhere.push(route.request().url());
      return route.abort('internetdisconnected');
    });
    const page = await context.newPage();
    page.on('websocket', (ws) => {
      if (new URL(ws.url()).host !== server.host) elsewhere.push(ws.url());
    });
    await page.goto(s.url, { waitUntil: 'load' });
    // Whatever the page loads by itself it has asked for by now ('load' waits for its scripts and styles).
    assert.deepEqual(elsewhere, [], 'the page asked hosts other than the server');
    assert.equal(await page.title(), 'virtplane', "the page should be the server's GraphiQL");
    await page.locator('.graphiql-container .graphiql-query-editor').first().waitFor({ state: 'visible', timeout: 60_000 });
    assert.deepEqual(elsewhere, [], 'the editor asked hosts other than the server');
  } finally {
    await context.close();
  }
});
