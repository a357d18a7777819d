// The operators' whole flow through the console in Debian's headless Chromium, against a
// live server. Stops at the first failed expectation with a message saying which.
//
// env: BASE_URL (the server, e.g. http://127.0.0.1:18306), ADMIN_KEY (an admin secret),
//      USER_ID and USER_TOKEN (a signed-in user and that user's session token),
//      OUT_DIR (screenshots), optional ADMIN_KEY_NAME (the key's name, checked in the
//      audit row), optional EXTRA_ORIGINS (comma-separated origins the page may also
//      load from, e.g. an avatar CDN).
// exit: 0 every step passed, 1 an expectation failed, 2 it could not run (setup).
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function setup(msg) {
  console.error(`console-flow: cannot run: ${msg}`);
  process.exit(2);
}

const env = (name) => process.env[name] || setup(`${name} is not set`);
const BASE = new URL(env('BASE_URL'));
const ADMIN_KEY = env('ADMIN_KEY');
const USER_ID = env('USER_ID');
const USER_TOKEN = env('USER_TOKEN');
const OUT_DIR = env('OUT_DIR');
const KEY_NAME = process.env.ADMIN_KEY_NAME || null;
const ALLOWED = new Set([BASE.origin, ...(process.env.EXTRA_ORIGINS || '').split(',').map((s) => s.trim()).filter(Boolean)]);
const PAGE = new URL('/admin/', BASE).href;
if (!fs.existsSync(CHROMIUM)) setup(`${CHROMIUM} is missing (run .ci/browser-deps)`);
fs.mkdirSync(OUT_DIR, { recursive: true });

class Expectation extends Error {}
function expect(ok, msg) {
  if (!ok) throw new Expectation(msg);
}

let step = 'start';
let passed = 0;
let browser;
const foreign = [];
const consoleErrors = [];

function pageProblems() {
  expect(!foreign.length, `the page made requests to other origins: ${foreign.join(', ')}`);
  expect(!consoleErrors.length, `the browser console has errors: ${consoleErrors.join(' | ')}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(OUT_DIR, name), fullPage: true });
}

async function text(page, sel) {
  return (await page.locator(sel).textContent()) ?? '';
}

// Waits until `fn` (run in the page) is true; on time-out says what the page shows.
async function until(page, what, fn, arg) {
  try {
    await page.waitForFunction(fn, arg, { timeout: 15000 });
  } catch (e) {
    const msgs = await page.evaluate(() => ['signin-msg', 'lookup-msg', 'action-msg', 'audit-msg']
      .map((id) => `${id}=${JSON.stringify(document.getElementById(id)?.textContent ?? '')}`).join(' '))
      .catch(() => '(page gone)');
    throw new Expectation(`${what} did not happen (${e.message.split('\n')[0]}); page messages: ${msgs}`);
  }
}

const shown = (sel) => {
  const e = document.querySelector(sel);
  return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;
};

async function run(name, fn) {
  step = name;
  await fn();
  passed += 1;
  console.log(`ok ${passed} - ${name}`);
}

async function newPage(locale) {
  const context = await browser.newContext({ locale, viewport: { width: 1280, height: 800 } });
  context.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && !ALLOWED.has(u.origin)) foreign.push(r.url());
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${m.text()} ${m.location()?.url ?? ''}`.trim());
  });
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
  // CSP violations also reach the console; this names the directive.
  await page.addInitScript(() => document.addEventListener('securitypolicyviolation',
    (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`)));
  return { context, page };
}

async function lookupById(page, id) {
  await page.fill('#lookup-id', String(id));
  await page.click('#lookup-form button[type=submit]');
}

async function main() {
  await run('the page is served with its security headers', async () => {
    for (const file of ['', 'console.js', 'console.css']) {
      const res = await fetch(new URL(file, PAGE));
      expect(res.status === 200, `GET /admin/${file} answered HTTP ${res.status}`);
      const csp = res.headers.get('content-security-policy') || '';
      for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) {
        expect(csp.includes(d), `/admin/${file}: CSP lacks ${d}: ${csp}`);
      }
      expect(res.headers.get('x-content-type-options') === 'nosniff', `/admin/${file}: no nosniff`);
      expect((res.headers.get('cache-control') || '').includes('no-store'), `/admin/${file}: cacheable`);
    }
  });

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const { context, page } = await newPage('en-US');
  const wrongKey = `wrong-${Date.now()}-key-0123456789abcdef`;

  await run('a wrong key shows a clear error and stays on the sign-in form', async () => {
    await page.goto(PAGE);
    await page.fill('#key', wrongKey);
    await page.click('#signin-form button[type=submit]');
    await until(page, 'an error for the wrong key', () => {
      const m = document.getElementById('signin-msg');
      return m.classList.contains('error') && /code 401/.test(m.textContent);
    });
    const msg = await text(page, '#signin-msg');
    expect(/wrong admin key/i.test(msg), `the error does not say the key is wrong: ${msg}`);
    expect(await page.evaluate(shown, '#signin-form'), 'the sign-in form is not shown');
    expect(!(await page.evaluate(shown, '#console')), 'the console is shown after a wrong key');
    expect(await page.evaluate(() => sessionStorage.length === 0), 'the wrong key was stored');
    await shot(page, '01-wrong-key.png');
  });

  await run('sign in with the key (kept in sessionStorage only)', async () => {
    await page.fill('#key', ADMIN_KEY);
    await page.click('#signin-form button[type=submit]');
    await until(page, 'the console after sign-in', shown, '#lookup-form');
    expect(await page.evaluate(() => Object.values(sessionStorage).length === 1), 'the key is not in sessionStorage');
    expect(await page.evaluate(() => localStorage.length === 0), 'something was put in localStorage');
    expect((await context.cookies()).length === 0, 'the page set a cookie');
    expect(!page.url().includes(ADMIN_KEY) && !page.url().includes(encodeURIComponent(ADMIN_KEY)), 'the key is in the URL');
    expect((await page.inputValue('#key')) === '', 'the key stays in the password field');
    await shot(page, '02-signed-in.png');
  });

  await run('look the user up', async () => {
    await lookupById(page, USER_ID);
    await until(page, 'the user card', (id) => document.getElementById('u-id')?.textContent === id
      && !document.getElementById('user').hidden, String(USER_ID));
    const state = await text(page, '#u-state');
    expect(state === 'active', `the user's state is "${state}", expected active`);
    const created = await text(page, '#u-created');
    expect(/\d{4}/.test(created), `created_at is not shown as a date: "${created}"`);
    const sessions = await page.locator('#u-sessions tr').allTextContents();
    expect(sessions.length >= 1 && !/no live session/i.test(sessions[0]), `no session listed for the signed-in user: ${sessions}`);
    expect(/^\d+ \/ \d+ \/ \d+$/.test(await text(page, '#u-counts')), 'the counts are not shown');
    expect(await page.evaluate(() => document.getElementById('u-nickname').children.length === 0),
      'the nickname was rendered as HTML');
    await shot(page, '03-looked-up.png');
  });

  const reason = `spam flood <b>&amp; "browser test"</b> ${Date.now()}`;
  let sentUntil;
  await run('ban with a reason and an end', async () => {
    // The end, two days on, typed as the operator's local time.
    const local = await page.evaluate(() => {
      const d = new Date(Date.now() + 2 * 86400e3);
      d.setSeconds(0, 0);
      const p = (n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
    });
    const expectedUntil = await page.evaluate((v) => new Date(v).toISOString().replace(/\.\d{3}Z$/, 'Z'), local);
    await page.fill('#ban-reason', reason);
    await page.fill('#ban-until', local);
    const [req] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith('/admin/users/ban') && r.method() === 'POST'),
      page.click('#ban-form button[type=submit]'),
    ]);
    expect((req.headers()['content-type'] || '').startsWith('application/json'), 'the ban was not sent as JSON');
    const body = req.postDataJSON();
    sentUntil = body.until;
    expect(String(body.user_id) === String(USER_ID) && body.reason === reason && body.until === expectedUntil,
      `the ban request was ${JSON.stringify(body)}, expected user ${USER_ID}, the reason, until ${expectedUntil}`);
    expect(req.headers().authorization === `Bearer ${ADMIN_KEY}`, 'the ban was not sent with the key as a Bearer token');
    await until(page, 'the banned state', () => document.getElementById('u-state').textContent === 'banned'
      && !document.querySelector('[aria-busy]'));
    expect(/banned/i.test(await text(page, '#action-msg')), 'no success message after the ban');
    expect((await text(page, '#u-reason')) === reason, `the ban reason shows as "${await text(page, '#u-reason')}"`);
    expect(await page.evaluate(() => document.getElementById('u-reason').children.length === 0), 'the reason was rendered as HTML');
    const until_ = await text(page, '#u-until');
    expect(/\d{4}/.test(until_) && !/no end/i.test(until_), `the ban end shows as "${until_}"`);
    const sessions = await page.locator('#u-sessions tr').allTextContents();
    expect(sessions.length === 1 && /no live session/i.test(sessions[0]), `sessions remain after the ban: ${sessions}`);
    await shot(page, '04-banned.png');
  });

  await run("the banned user's own token is refused by the API", async () => {
    const res = await fetch(new URL('/accessuser/getimtoken', BASE), {
      method: 'POST', headers: { token: USER_TOKEN, 'accept-language': 'en' },
    });
    const env = await res.json().catch(() => null);
    expect(env && env.code === 401, `getimtoken with the user's token answered ${JSON.stringify(env)}, expected code 401`);
  });

  await run('the audit log shows the ban', async () => {
    await page.click('#audit-this');
    await until(page, 'the audit filtered by the user', (id) => document.getElementById('audit-user').value === id
      && !document.querySelector('[aria-busy]'), String(USER_ID));
    const rows = await page.locator('#audit-rows tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    const ban = rows.find((r) => /ban/i.test(r[3]) && !/unban/i.test(r[3]));
    expect(ban, `no ban row in the audit log: ${JSON.stringify(rows)}`);
    expect(ban[4] === String(USER_ID), `the ban row names user ${ban[4]}`);
    expect(ban[5] === reason, `the ban row's reason is "${ban[5]}"`);
    expect(ban[2] && ban[2] !== ADMIN_KEY && (!KEY_NAME || ban[2] === KEY_NAME), `the ban row's key is "${ban[2]}"${KEY_NAME ? `, expected ${KEY_NAME}` : ''}`);
    expect(rows.every((r) => String(r[4]) === String(USER_ID)), 'the filter shows other users');
    const ids = rows.map((r) => Number(r[0]));
    expect(ids.every((v, i) => i === 0 || ids[i - 1] > v), `the audit log is not newest first: ${ids}`);
    expect(!(await page.evaluate((k) => document.body.innerText.includes(k), ADMIN_KEY)), 'the key is shown on the page');
    await shot(page, '05-audit-ban.png');
  });

  await run('unban', async () => {
    await page.click('#unban');
    await until(page, 'the active state after unban', () => document.getElementById('u-state').textContent === 'active'
      && /unbanned/i.test(document.getElementById('action-msg').textContent)
      && !document.querySelector('[aria-busy]'));
    expect(!(await page.evaluate(shown, '#u-until')), 'the ban end is still shown');
    await shot(page, '06-unbanned.png');
  });

  await run('the audit log pages to older entries', async () => {
    await page.fill('#audit-limit', '1');
    await page.click('#audit-form button[type=submit]');
    await until(page, 'one audit row', () => document.querySelectorAll('#audit-rows tr').length === 1
      && !document.querySelector('[aria-busy]'));
    const first = Number(await text(page, '#audit-rows tr:first-child td:first-child'));
    const [req] = await Promise.all([
      page.waitForRequest((r) => new URL(r.url()).pathname.endsWith('/admin/audit') && new URL(r.url()).searchParams.has('after')),
      page.click('#audit-older'),
    ]);
    const q = new URL(req.url()).searchParams;
    expect(q.get('after') === String(first) && q.get('limit') === '1' && q.get('user_id') === String(USER_ID),
      `the older page was asked as ${q}, expected after=${first}, limit=1, user_id=${USER_ID}`);
    await until(page, 'a second audit row', () => document.querySelectorAll('#audit-rows tr').length === 2
      && !document.querySelector('[aria-busy]'));
    const ids = (await page.locator('#audit-rows tr td:first-child').allTextContents()).map(Number);
    expect(ids[0] === first && ids[1] < first, `older entries are not older: ${ids}`);
    await page.fill('#audit-limit', '50');
  });

  await run('force logout of one device type', async () => {
    await page.selectOption('#revoke-device', 'android');
    const [req] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith('/admin/sessions/revoke')),
      page.click('#revoke-form button[type=submit]'),
    ]);
    const body = req.postDataJSON();
    expect(String(body.user_id) === String(USER_ID) && body.device === 'android', `the revoke request was ${JSON.stringify(body)}`);
    await until(page, 'the force-logout confirmation', () => /signed out of android/i.test(document.getElementById('action-msg').textContent)
      && document.getElementById('action-msg').classList.contains('ok')
      && !document.querySelector('[aria-busy]'));
    await shot(page, '07-forced-out.png');
  });

  await run('delete needs the typed user id', async () => {
    await page.fill('#delete-reason', 'asked by the user (browser test)');
    expect(await page.isDisabled('#delete'), 'delete is enabled before the id is typed');
    await page.fill('#delete-confirm', `${USER_ID}0`);
    expect(await page.isDisabled('#delete'), 'delete is enabled with a wrong id typed');
    await page.fill('#delete-confirm', String(USER_ID));
    expect(await page.isEnabled('#delete'), 'delete stays disabled with the right id typed');
    await shot(page, '08-delete-confirm.png');
  });

  await run('delete, and the lookup then shows the user gone', async () => {
    const [req] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith('/admin/users/delete')),
      page.click('#delete'),
    ]);
    const body = req.postDataJSON();
    expect(String(body.user_id) === String(USER_ID) && body.reason === 'asked by the user (browser test)', `the delete request was ${JSON.stringify(body)}`);
    await until(page, 'the deletion confirmation', () => /deleted/i.test(document.getElementById('action-msg').textContent)
      && !document.querySelector('[aria-busy]'));
    // Look it up again, as an operator would.
    await lookupById(page, USER_ID);
    await until(page, 'the lookup of the deleted user', () => {
      const m = document.getElementById('lookup-msg');
      const gone = m.classList.contains('error') && /\(code 1\b/.test(m.textContent);
      const s = document.getElementById('u-state');
      return gone || (!document.getElementById('user').hidden && s.textContent === 'deleted');
    });
    await shot(page, '09-deleted.png');
  });

  await run('sign out forgets the key', async () => {
    await page.click('#signout');
    await until(page, 'the sign-in form after sign-out', shown, '#signin-form');
    expect(await page.evaluate(() => sessionStorage.length === 0), 'the key is still stored after sign-out');
    await page.reload();
    expect(await page.evaluate(shown, '#signin-form'), 'a reload after sign-out is still signed in');
    await shot(page, '10-signed-out.png');
  });

  await run('a Chinese browser gets the page and the errors in Chinese', async () => {
    const zh = await newPage('zh-CN');
    await zh.page.goto(PAGE);
    expect((await text(zh.page, '#signin-h')) === '登录', `the sign-in title is "${await text(zh.page, '#signin-h')}"`);
    await zh.page.fill('#key', wrongKey);
    await zh.page.click('#signin-form button[type=submit]');
    await until(zh.page, 'a Chinese error for the wrong key', () => {
      const m = document.getElementById('signin-msg');
      return m.classList.contains('error') && /错误码 401/.test(m.textContent);
    });
    const msg = await text(zh.page, '#signin-msg');
    expect(/管理密钥错误：[^（]*[\u4e00-\u9fff]/.test(msg), `the server's message is not in Chinese: ${msg}`);
    await shot(zh.page, '11-zh-wrong-key.png');
    await zh.context.close();
  });

  await run('no request to another origin, no console error', async () => pageProblems());
  console.log(`console-flow: ban sent with until ${sentUntil}; screenshots in ${OUT_DIR}`);
  console.log(`console-flow: ${passed} passed, 0 failed`);
}

try {
  await main();
  await browser?.close();
} catch (e) {
  const why = e instanceof Expectation ? e.message : (e && e.stack) || String(e);
  console.error(`console-flow: FAILED at "${step}": ${why}`);
  if (foreign.length) console.error(`console-flow: requests to other origins: ${foreign.join(', ')}`);
  if (consoleErrors.length) console.error(`console-flow: console errors: ${consoleErrors.join(' | ')}`);
  try {
    const pages = browser ? browser.contexts().flatMap((c) => c.pages()) : [];
    if (pages.length) await pages[0].screenshot({ path: path.join(OUT_DIR, 'failed.png'), fullPage: true });
  } catch { /* the screenshot is a courtesy */ }
  console.log(`console-flow: ${passed} passed, 1 failed`);
  await browser?.close().catch(() => {});
  process.exit(1);
}
