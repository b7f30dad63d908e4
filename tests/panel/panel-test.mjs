// Browser test of the Runners panel, driven through headless Debian chromium
// by playwright-core. Run by tests/integration/t250-relay-panel.sh, which
// starts the relay and passes everything through the environment:
//   PLAYWRIGHT_DIR  folder holding node_modules/playwright-core
//   RELAY_URL, RELAY_BIN, RELAY_DB, ADMIN_TOKEN
//   RUNNER_BIN      the delego-runner binary (may be missing: runner steps skip)
//   OUT_DIR         screenshots go here; WORK a scratch folder
// Prints TAP-like "ok N - ..." lines.
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const env = process.env;
const require = createRequire(join(env.PLAYWRIGHT_DIR, 'package.json'));
const { chromium } = require('playwright-core');

let n = 0;
let failed = 0;
const ok = (cond, what) => {
  n++;
  if (cond) console.log(`ok ${n} - ${what}`);
  else { failed++; console.log(`not ok ${n} - ${what}`); }
};
const skip = (what, why) => { n++; console.log(`ok ${n} - # SKIP ${what}: ${why}`); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(fn, ms, step = 100) {
  const end = Date.now() + ms;
  for (;;) {
    try { if (await fn()) return true; } catch { /* retry */ }
    if (Date.now() > end) return false;
    await sleep(step);
  }
}
const shot = async (page, name) => {
  const p = join(env.OUT_DIR, name);
  await page.screenshot({ path: p, fullPage: true });
  console.log(`# screenshot ${p}`);
};

const runnerEnv = {
  PATH: env.PATH,
  HOME: join(env.WORK, 'runner-home'),
  XDG_CONFIG_HOME: join(env.WORK, 'runner-home/.config'),
  XDG_STATE_HOME: join(env.WORK, 'runner-home/.local/state'),
  XDG_DATA_HOME: join(env.WORK, 'runner-home/.local/share'),
  XDG_CACHE_HOME: join(env.WORK, 'runner-home/.cache'),
};
mkdirSync(runnerEnv.HOME, { recursive: true });
const workspace = join(env.WORK, 'workspace');

const userDataDir = join(env.WORK, 'chromium-profile');
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 900 },
});
let runner = null;
try {
  const page = context.pages()[0] ?? await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  // Without a token the page asks for one.
  await page.goto(env.RELAY_URL + '/');
  ok(await page.locator('#need-token').isVisible(), 'without a token the panel asks for the admin token');

  await page.goto(`${env.RELAY_URL}/#token=${env.ADMIN_TOKEN}`);
  await page.waitForSelector('#runners-empty', { timeout: 10000 });
  ok(!page.url().includes('token='), 'the token leaves the address bar');
  ok(await page.evaluate(() => sessionStorage.getItem('delego-relay-admin-token')) === env.ADMIN_TOKEN,
    'the token is kept in sessionStorage');
  const empty = await page.locator('#runners-empty').innerText();
  ok(/Jobs queue until a runner is paired/.test(empty), 'the empty state says jobs queue until a runner is paired');
  await shot(page, 'panel-empty.png');

  // Workspace settings; the pairing command carries the workspace path.
  await page.selectOption('#default-executor', 'claude');
  await page.fill('#workspace-path', workspace);
  await page.click('#settings-form button[type=submit]');
  ok(await until(async () => (await page.locator('#settings-saved').innerText()) === 'Saved.', 5000), 'settings save');
  const saved = spawnSync(env.RELAY_BIN, ['--db', env.RELAY_DB, 'settings', '--json'], { encoding: 'utf8' });
  const settings = JSON.parse(saved.stdout);
  ok(settings.defaultExecutor === 'claude' && settings.workspacePath === workspace, 'settings reach the relay');

  // Pair through the dialog.
  await page.click('#pair-button');
  ok(await page.locator('#pair-dialog').isVisible(), 'Pair opens the dialog');
  ok(await page.getAttribute('#pair-name', 'maxlength') === '120', 'display name is limited to 120 characters');
  await page.fill('#pair-name', 'Panel test box');
  await shot(page, 'panel-pair-dialog.png');
  await page.click('#pair-create');
  await page.waitForSelector('#command-dialog[open]', { timeout: 5000 });
  const command = (await page.locator('#pair-command').innerText()).trim();
  const expiry = await page.locator('#command-expiry').innerText();
  ok(/^printf '%s' drs_pair_[A-Za-z0-9_-]+ \| delego-runner pair --relay-url /.test(command) &&
    command.includes(`delego-runner pair --relay-url ${env.RELAY_URL} --pairing-token -`),
    'the dialog shows the one-time command, the token piped through a shell builtin (never on argv)');
  ok(command.includes(`--workspace-root ${workspace}`), 'the command includes --workspace-root from the settings');
  ok(/in 15 minutes/.test(expiry), 'the dialog says when the token expires');
  await shot(page, 'panel-command.png');
  await page.click('#command-dialog button[data-close]');

  const card = page.locator('article.card', { hasText: 'Panel test box' });
  ok(await until(async () => (await card.count()) === 1, 5000), 'a card appears for the new runner');
  ok(await until(async () => (await card.locator('.status-pill').innerText()) === 'Not registered', 5000),
    'the card says Not registered before pairing');
  const runnerId = await card.getAttribute('data-runner-id');
  ok(/^[0-9a-f-]{36}$/.test(runnerId) && (await card.locator('.card-id').innerText()) === runnerId,
    'the card shows the runner id');
  ok((await card.locator('.heartbeat').innerText()) === '\u2014', 'no heartbeat yet: an em dash');

  // Run the real runner with the command the panel showed, as a user would paste it.
  let paired = false;
  let whyNot = '';
  if (!env.RUNNER_BIN || !existsSync(env.RUNNER_BIN)) {
    whyNot = `no runner binary at ${env.RUNNER_BIN}`;
  } else {
    const pair = spawnSync('/bin/sh', ['-c', command],
      { env: { ...runnerEnv, PATH: `${dirname(env.RUNNER_BIN)}:${runnerEnv.PATH}` }, encoding: 'utf8', timeout: 30000 });
    writeFileSync(join(env.WORK, 'pair.log'), `${pair.stdout}\n${pair.stderr}`);
    paired = pair.status === 0;
    if (!paired) whyNot = `delego-runner pair exited ${pair.status}: ${(pair.stderr || '').trim().split('\n').pop()}`;
  }
  if (!paired) {
    skip('real runner pairs, turns Online, exits 2 after Rotate', `the runner binary cannot pair yet (${whyNot})`);
  } else {
    ok(true, 'the real runner paired with the shown command');
    const log = [];
    runner = spawn(env.RUNNER_BIN, ['run', '--poll-interval-ms', '1000', '--heartbeat-interval-ms', '60000'],
      { env: runnerEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    runner.stdout.on('data', (d) => log.push(String(d)));
    runner.stderr.on('data', (d) => log.push(String(d)));
    const exited = new Promise((r) => runner.on('exit', (code, sig) => r({ code, sig })));
    const online = await until(async () => (await card.locator('.status-pill').innerText()) === 'Online', 20000);
    ok(online, 'the card turns Online by itself');
    ok(await until(async () => (await card.locator('.version').innerText()) !== '\u2014', 5000), 'the card shows the runner version');
    ok(await until(async () => (await card.locator('.heartbeat').innerText()) !== '\u2014', 5000), 'the card shows the last heartbeat');
    {
      // The exact local date and time of the beat, its age beside it.
      const at = await card.locator('.heartbeat time').getAttribute('datetime');
      const want = await page.evaluate((iso) => {
        const d = new Date(iso);
        return [d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }),
          d.toLocaleDateString([], { year: 'numeric', month: 'short', day: 'numeric' })];
      }, at);
      const shown = await card.locator('.heartbeat').innerText();
      ok(shown.includes(want[0]) && shown.includes(want[1]) && / ago\)$/.test(shown),
        `the heartbeat shows its local date, time and age ("${shown}", want "${want[1]}", "${want[0]}")`);
    }
    await shot(page, 'panel-online.png');

    // Rotate from the actions menu, with confirmation: the runner exits 2.
    await card.locator('.menu-button').click();
    await card.locator('[data-action=rotate]').click();
    await page.waitForSelector('#confirm-dialog[open]');
    ok(/Rotate/.test(await page.locator('#confirm-title').innerText()), 'Rotate asks for confirmation');
    await page.click('#confirm-ok');
    await page.waitForSelector('#command-dialog[open]', { timeout: 5000 });
    const cmd2 = (await page.locator('#pair-command').innerText()).trim();
    ok(cmd2.startsWith("printf '%s' drs_pair_") && cmd2 !== command, 'Rotate shows a new one-time command');
    await page.click('#command-dialog button[data-close]');
    const res = await Promise.race([exited, sleep(30000).then(() => null)]);
    ok(res && res.code === 2, `the rotated runner exits with status 2 (got ${res ? `${res.code}/${res.sig}` : 'no exit in 30 s'})`);
    writeFileSync(join(env.WORK, 'runner.log'), log.join(''));
    ok(await until(async () => (await card.locator('.status-pill').innerText()) === 'Not registered', 5000),
      'after rotation the card waits for re-pairing (Not registered)');
    runner = null;
  }

  // Remove from the actions menu, with confirmation.
  await card.locator('.menu-button').click();
  await shot(page, 'panel-menu.png');
  await card.locator('[data-action=remove]').click();
  await page.waitForSelector('#confirm-dialog[open]');
  await page.click('#confirm-ok');
  ok(await until(async () => (await card.count()) === 0, 5000), 'Remove takes the card away');

  // Jobs with their events, refreshed without a reload.
  const add = spawnSync(env.RELAY_BIN, ['--db', env.RELAY_DB, 'job', 'add', '--repo', 'acme/web', '--identifier', 'ENG-42', '--title', 'Panel job'], { encoding: 'utf8' });
  const jobId = add.stdout.trim();
  const row = page.locator(`tr.job-row[data-job-id="${jobId}"]`);
  ok(await until(async () => (await row.count()) === 1, 6000), 'a job queued from the CLI shows up by itself');
  await row.click();
  ok(await until(async () => /Queued/.test(await page.locator('tr.job-events').first().innerText()), 3000),
    'a job row opens its events');
  // The sandbox a runner reported for a job shows in its events.
  const tok = spawnSync(env.RELAY_BIN, ['--db', env.RELAY_DB, 'pair-token', '--name', 'sandboxed'], { encoding: 'utf8' }).stdout.trim();
  const api = async (path, bearer, body) => (await fetch(env.RELAY_URL + path, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + bearer },
    body: JSON.stringify(body) })).json();
  const reg = await api('/api/runner/register', tok, { pairingToken: tok, version: '9.9.9', supportedExecutors: ['claude', 'codex'] });
  const sbAdd = spawnSync(env.RELAY_BIN, ['--db', env.RELAY_DB, 'job', 'add', '--repo', 'acme/web', '--identifier', 'ENG-43', '--title', 'Sandboxed job'], { encoding: 'utf8' });
  const sbId = sbAdd.stdout.trim();
  let polled = {};
  for (let i = 0; i < 3 && !(polled.job && polled.job.id === sbId); i++) // the earlier job is queued first
    polled = await api('/api/runner/jobs/poll', reg.bearer, { version: '9.9.9', supportedExecutors: ['claude', 'codex'] });
  await api('/api/runner/jobs/progress', reg.bearer, { jobId: sbId, organizationId: polled.job && polled.job.organizationId,
    summary: 'Prepared local workspace', metadata: { attemptId: polled.job && polled.job.attemptId,
      sandbox: { mode: 'bwrap', network: 'on', writable: ['~/.cache'], hidden: ['~/.ssh'] } } });
  if (!polled.job || polled.job.id !== sbId) console.log('# poll gave ' + JSON.stringify(polled).slice(0, 300));
  const sbRow = page.locator(`tr.job-row[data-job-id="${sbId}"]`);
  ok(await until(async () => (await sbRow.count()) === 1, 6000), 'a claimed job shows up');
  await sbRow.click();
  ok(await until(async () => /sandbox\s*bwrap, network on/.test(await page.locator(`tr.job-row[data-job-id="${sbId}"] + tr.job-events`).innerText()), 6000),
    "a job's events say the agent's sandbox");
  await shot(page, 'panel-final.png');
  ok(consoleErrors.length === 0, `no errors in the browser console (${consoleErrors.join(' | ')})`);
} catch (e) {
  failed++;
  n++;
  console.log(`not ok ${n} - the browser test threw: ${e && e.stack ? e.stack.split('\n').slice(0, 4).join(' / ') : e}`);
} finally {
  if (runner) runner.kill('SIGTERM');
  await context.close();
}
console.log(`# ${n - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
