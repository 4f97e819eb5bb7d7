// Headless-browser checks for a generated registry site.
//
// Environment:
//   SITE_URL        base URL of a served site, e.g. http://127.0.0.1:8799/ (required)
//   SCREENSHOT_DIR  where PNG screenshots are written (default: ./screenshots)
//   SEARCH_QUERY    a query that should match exactly SEARCH_EXPECT apps
//                   (default: a package name that occurs in no other card)
//   SEARCH_EXPECT   number of cards expected for SEARCH_QUERY (default: 1)
//   CHROMIUM_PATH   browser binary (default: /usr/bin/chromium)
//
// Exits non-zero, with a message naming the failed check, if anything is wrong.
// Any console error (including Content-Security-Policy violations), uncaught
// page error, failed request or HTTP error response fails the run.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { chromium } from 'playwright-core';

const SITE_URL = process.env.SITE_URL;
if (!SITE_URL) {
  console.error('SITE_URL is not set (example: SITE_URL=http://127.0.0.1:8799/)');
  process.exit(2);
}
const base = SITE_URL.endsWith('/') ? SITE_URL : `${SITE_URL}/`;
const SCREENSHOT_DIR = path.resolve(process.env.SCREENSHOT_DIR || 'screenshots');
const SEARCH_EXPECT = process.env.SEARCH_EXPECT === undefined || process.env.SEARCH_EXPECT === ''
  ? 1
  : Number.parseInt(process.env.SEARCH_EXPECT, 10);
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const TIMEOUT_MS = 10_000;

if (!Number.isInteger(SEARCH_EXPECT) || SEARCH_EXPECT < 0) {
  console.error(`SEARCH_EXPECT must be a non-negative integer, got ${JSON.stringify(process.env.SEARCH_EXPECT)}`);
  process.exit(2);
}
mkdirSync(SCREENSHOT_DIR, { recursive: true });

let passed = 0;
let failed = 0;

class CheckFailed extends Error {}

function check(condition, description, detail) {
  if (condition) {
    passed += 1;
    console.log(`ok   - ${description}`);
    return;
  }
  failed += 1;
  const message = detail === undefined ? description : `${description}: ${detail}`;
  console.log(`FAIL - ${message}`);
  throw new CheckFailed(message);
}

// Polls `read` until `accept` holds or the timeout elapses; returns the last value.
async function waitFor(read, accept, timeout = TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  let value = await read();
  while (!accept(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await read();
  }
  return value;
}

const problems = [];

function watch(page, label) {
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const where = msg.location()?.url ? ` (${msg.location().url})` : '';
      problems.push(`[${label}] console error: ${msg.text()}${where}`);
    }
  });
  page.on('pageerror', (err) => problems.push(`[${label}] page error: ${err.message}`));
  page.on('requestfailed', (req) => {
    problems.push(`[${label}] request failed: ${req.url()} (${req.failure()?.errorText ?? 'unknown'})`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`[${label}] HTTP ${res.status()} for ${res.url()}`);
  });
}

async function shot(page, name) {
  const file = path.join(SCREENSHOT_DIR, name);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`     screenshot: ${file}`);
}

async function noHorizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM_PATH,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

let exitCode = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  watch(page, 'desktop');

  // ---------- Catalog ----------
  const catalogUrl = `${base}index.html`;
  const response = await page.goto(catalogUrl, { waitUntil: 'load' });
  check(response && response.ok(), `catalog loads (${catalogUrl})`, response ? `HTTP ${response.status()}` : 'no response');

  const cards = page.locator('#app-list [data-search]');
  const visibleCards = page.locator('#app-list [data-search]:visible');
  const total = await cards.count();
  const initiallyVisible = await visibleCards.count();
  check(initiallyVisible >= 2, 'at least 2 app cards are visible', `found ${initiallyVisible}`);
  check(initiallyVisible === total, 'every card is visible before searching', `${initiallyVisible} of ${total}`);

  const search = page.locator('#search');
  check(await search.isVisible(), 'search field is shown once the script has run');
  await shot(page, 'catalog.png');

  // Pick a query: the configured one, or a package name unique to one card.
  let query = process.env.SEARCH_QUERY;
  let expect = SEARCH_EXPECT;
  if (!query) {
    const texts = await cards.evaluateAll((els) => els.map((el) => ({
      pkg: (el.querySelector('.app-package')?.textContent || '').trim().toLowerCase(),
      hay: el.getAttribute('data-search') || '',
    })));
    const unique = texts.find((t) => t.pkg && texts.filter((o) => o.hay.includes(t.pkg)).length === 1);
    check(Boolean(unique), 'found a package name to search for (set SEARCH_QUERY to choose one)');
    query = unique.pkg;
    expect = 1;
  }
  check(expect < initiallyVisible, `SEARCH_EXPECT (${expect}) is below the number of cards (${initiallyVisible})`);

  await search.click();
  await search.pressSequentially(query, { delay: 15 });
  const filtered = await waitFor(() => visibleCards.count(), (n) => n === expect);
  check(filtered === expect, `typing "${query}" leaves ${expect} card(s) visible`, `got ${filtered}`);
  check(filtered < initiallyVisible, 'the visible card count drops while searching');
  const countText = (await page.locator('#search-count').textContent())?.trim() ?? '';
  check(countText.startsWith(`${expect} of ${total}`), 'result count reflects the filter', JSON.stringify(countText));
  await shot(page, 'catalog-filtered.png');

  await search.fill('zz-no-such-app-qq');
  const none = await waitFor(() => visibleCards.count(), (n) => n === 0);
  check(none === 0, 'a query matching nothing hides every card', `got ${none}`);
  check(await page.locator('#no-results').isVisible(), 'a "no apps match" message is shown when nothing matches');

  await search.fill('');
  const restored = await waitFor(() => visibleCards.count(), (n) => n === total);
  check(restored === total, 'clearing the search shows every card again', `got ${restored} of ${total}`);
  check(!(await page.locator('#no-results').isVisible()), 'the "no apps match" message is hidden again');

  // ---------- App page ----------
  const firstLink = cards.first().locator('a[href]').first();
  const expectedName = ((await cards.first().locator('.app-name').textContent()) || '').trim();
  await Promise.all([page.waitForURL(/\/apps\/[^/]+\/(index\.html)?$/), firstLink.click()]);
  await page.waitForLoadState('load');
  check(true, `opened the first app page (${page.url()})`);

  const title = ((await page.locator('h1').first().textContent()) || '').replace(/\s+/g, ' ').trim();
  check(expectedName !== '' && title.includes(expectedName), 'app page heading names the app', `${JSON.stringify(title)} vs ${JSON.stringify(expectedName)}`);

  const versionTable = page.locator('table.versions');
  check(await versionTable.isVisible(), 'app page shows a version table');
  const rows = await versionTable.locator('tbody tr.version-row').count();
  check(rows >= 1, 'version table has at least one version row', `found ${rows}`);

  const install = page.locator('pre code#install-command');
  check(await install.isVisible(), 'app page shows the install command');
  const installText = ((await install.textContent()) || '').trim();
  check(installText.length > 0, 'install command is not empty');
  // The whole command is in sight beside the copy button: it wraps rather than scrolling away.
  const clipped = await page.evaluate(() => {
    const pre = document.querySelector('pre.install-command');
    return pre ? pre.scrollWidth - pre.clientWidth : -1;
  });
  check(clipped === 0, 'the install command is not cut off beside the copy button', `${clipped}px hidden`);

  // Every file the page links to for the first version, and the app JSON, must exist.
  const hrefs = await page.evaluate(() => {
    const row = document.querySelector('table.versions tbody tr.version-row');
    const links = row ? Array.from(row.querySelectorAll('a[href]')) : [];
    const json = Array.from(document.querySelectorAll('a[href$="index.json"]'));
    return Array.from(new Set(links.concat(json).map((a) => a.href)));
  });
  check(hrefs.length >= 3, 'app page links a bundle, a manifest and JSON data', `found ${hrefs.length} links`);
  for (const href of hrefs) {
    const res = await page.request.get(href);
    check(res.ok(), `linked file exists: ${href}`, `HTTP ${res.status()}`);
  }
  await shot(page, 'app.png');

  // Tag chips lead back to the catalog, filtered by that tag.
  const tagLink = page.locator('a.tag[data-tag]').first();
  if (await tagLink.count()) {
    const tag = (await tagLink.getAttribute('data-tag')) || '';
    const href = (await tagLink.getAttribute('href')) || '';
    check(href.endsWith(`?q=${encodeURIComponent(tag)}`), 'tag links carry the tag as a catalog query', href);
    await Promise.all([page.waitForURL(/index\.html\?q=/), tagLink.click()]);
    await page.waitForLoadState('load');
    check((await page.locator('#search').inputValue()) === tag, 'the catalog opens with the tag in the search field');
    const tagged = await waitFor(() => visibleCards.count(), (n) => n >= 1 && n <= total);
    check(tagged >= 1, `the catalog lists the apps tagged "${tag}"`, `got ${tagged}`);
    await page.goBack({ waitUntil: 'load' });
  }

  const appUrl = page.url();

  // ---------- Small screens ----------
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  phone.setDefaultTimeout(TIMEOUT_MS);
  const phonePage = await phone.newPage();
  watch(phonePage, 'phone');
  await phonePage.goto(catalogUrl, { waitUntil: 'load' });
  check(await noHorizontalOverflow(phonePage), 'catalog does not scroll sideways on a phone-sized screen');
  await shot(phonePage, 'catalog-phone.png');
  await phonePage.goto(appUrl, { waitUntil: 'load' });
  check(await noHorizontalOverflow(phonePage), 'app page does not scroll sideways on a phone-sized screen (tables scroll inside their box)');
  await shot(phonePage, 'app-phone.png');
  await phone.close();

  // ---------- Without JavaScript ----------
  const noJs = await browser.newContext({ viewport: { width: 1280, height: 900 }, javaScriptEnabled: false });
  noJs.setDefaultTimeout(TIMEOUT_MS);
  const noJsPage = await noJs.newPage();
  watch(noJsPage, 'no-js');
  await noJsPage.goto(catalogUrl, { waitUntil: 'load' });
  const noJsVisible = await noJsPage.locator('#app-list [data-search]:visible').count();
  check(noJsVisible === total, 'without JavaScript every card is listed', `${noJsVisible} of ${total}`);
  check(!(await noJsPage.locator('#search').isVisible()), 'without JavaScript the search field is not shown');
  await noJs.close();

  // ---------- Not-found page ----------
  const nf = await page.goto(`${base}404.html`, { waitUntil: 'load' });
  check(nf && nf.ok(), '404.html is served', nf ? `HTTP ${nf.status()}` : 'no response');
  check(await page.locator('a[href$="index.html"]').first().isVisible(), '404 page links back to the catalog');

  await context.close();

  // ---------- Console ----------
  check(problems.length === 0, 'no console errors, page errors, CSP violations or failed requests', `\n  ${problems.join('\n  ')}`);
} catch (err) {
  exitCode = 1;
  if (!(err instanceof CheckFailed)) {
    failed += 1;
    console.log(`FAIL - unexpected error: ${err && err.stack ? err.stack : err}`);
  }
  if (problems.length) console.log(`browser reported:\n  ${problems.join('\n  ')}`);
} finally {
  await browser.close();
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(exitCode || (failed ? 1 : 0));
