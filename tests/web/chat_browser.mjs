// The chat page (web/) in a real browser: Debian's chromium driven by npm's playwright-core,
// against real `bantam serve` processes on loopback (one plays the cloud). Registered in ctest as
// web_chat_browser.
//   node chat_browser.mjs BANTAM MODEL OUT_DIR   (OUT_DIR gets the two screenshots)
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import assert from 'node:assert/strict';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const [bantam, model, outDir] = process.argv.slice(2);
const adapter = join(dirname(model), '..', 'adapters', 'stories260K-lora-qvd-r8-f32.gguf');
if (!outDir) {
  console.error('usage: node chat_browser.mjs BANTAM MODEL OUT_DIR');
  process.exit(2);
}
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(chromiumPath)) {
  console.error(`no browser at ${chromiumPath}: install Debian's chromium (scripts/deps.sh) or set CHROMIUM`);
  process.exit(1);
}
const KEY = 's3cret-web';
const servers = [];
const serverOnPort = new Map();

// Starts `bantam serve` on a free port; resolves with its port once /health says ready.
function serve(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(bantam, ['serve', '-m', model, '--port', '0', '-t', '1', ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    servers.push(child);
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => reject(new Error(`bantam serve exited (${code}): ${err}`)));
    child.stdout.on('data', async (d) => {
      out += d;
      const m = /listening on .*:(\d+)/.exec(out);
      if (!m) return;
      child.stdout.removeAllListeners('data');
      const port = Number(m[1]);
      for (let i = 0; i < 200; i++) {
        const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
        if (ok) {
          serverOnPort.set(port, child);
          return resolve(port);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      reject(new Error('bantam serve never became ready'));
    });
  });
}

// Console errors and uncaught exceptions of a page; `expected` filters the ones a case causes.
function watchErrors(page, expected = () => false) {
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && !expected(m.text()) && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

// Waits until fn(arg) is true in the page. (page.waitForFunction compiles its predicate with eval,
// which the page's Content-Security-Policy forbids; evaluate does not.)
async function until(page, fn, arg, what) {
  for (let i = 0; i < 400; i++) {
    if (await page.evaluate(fn, arg)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function setMaxTokens(page, n) {
  if (await page.locator('#settings').isHidden()) await page.click('#settings-toggle');
  await page.fill('#max_tokens', String(n));
  await page.locator('#max_tokens').dispatchEvent('change');
  await page.click('#settings-toggle');
}

async function sendAndWait(page, text) {
  const before = await page.locator('.msg.assistant').count();
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
  await page.locator('.msg.assistant').nth(before).locator('.badge .where').waitFor();
  await page.locator('#send').waitFor();
  return page.locator('.msg.assistant').nth(before);
}

const cases = [];
const check = (name, fn) => cases.push({ name, fn });

let browser;
try {
  const [local, cloud] = await Promise.all([serve(['-c', '2048', '--lora', `qvd=${adapter}`]), serve(['-c', '512'])]);
  const routed = await serve(
    ['--cloud-url', `http://127.0.0.1:${cloud}`, '--route-policy', 'auto', '--cloud-consent', 'ask',
     '--api-key-env', 'BANTAM_WEB_TEST_KEY', '--cors-origin', 'http://127.0.0.1:9'],
    { BANTAM_WEB_TEST_KEY: KEY });
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  // The browser logs the 400 of the context case below as an error; nothing else may appear.
  const errors = watchErrors(page, (text) => /status of 400/.test(text));
  const streamed = [];
  const bodies = [];
  page.on('request', (r) => r.url().endsWith('/v1/chat/completions') && bodies.push(JSON.parse(r.postData())));
  page.on('response', (r) => r.url().endsWith('/v1/chat/completions') && streamed.push(r.headers()['content-type']));

  check('the page loads with no console errors; the switch is off and explained under local-only', async () => {
    await page.goto(`http://127.0.0.1:${local}/`);
    await page.locator('#model option[value="stories260K"]').waitFor({ state: 'attached' });
    // The picker offers the model and its named adapter (from /v1/models).
    assert.deepEqual(await page.locator('#model option').allTextContents(), ['stories260K', 'stories260K+qvd']);
    assert.equal(await page.locator('#allow-cloud').isDisabled(), true);
    assert.match(await page.textContent('#consent-note'), /local-only/);
    assert.deepEqual(errors, []);
  });

  check('sending a message streams an answer badged "on this device"', async () => {
    await setMaxTokens(page, 48);
    const answer = await sendAndWait(page, 'Once upon a time');
    assert.equal(await answer.locator('.badge .where').textContent(), 'on this device');
    assert.ok((await answer.locator('.body').textContent()).trim().length > 0);
    assert.match(await answer.locator('.badge .stats').textContent(), /first token \d+ ms/);
    assert.deepEqual(streamed, ['text/event-stream']);
  });

  check('stop interrupts a long answer', async () => {
    await setMaxTokens(page, 1900);
    const before = await page.locator('.msg.assistant').count();
    await page.fill('#input', 'Tell me a long story');
    await page.press('#input', 'Enter');
    const answer = page.locator('.msg.assistant').nth(before);
    await until(page, (i) => document.querySelectorAll('.msg.assistant .body')[i]?.textContent.trim().length > 0, before,
      'the first words of the answer');
    // Where it runs is shown while it streams, not only at the end.
    assert.equal(await answer.locator('.badge .where').textContent(), 'on this device');
    await page.click('#stop');
    await answer.locator('.stopped').waitFor();
    assert.equal(await page.locator('#send').isVisible(), true);
  });

  check('regenerate replaces the last answer; edit-and-resend drops what followed', async () => {
    await setMaxTokens(page, 16);
    const users = await page.locator('.msg.user').count();
    await page.click('.msg.assistant:last-child .actions button:text("Regenerate")');
    await page.locator('#stop').waitFor({ state: 'hidden' });
    await page.locator('.msg.assistant').last().locator('.badge .where').waitFor();
    assert.equal(await page.locator('.msg.user').count(), users);
    assert.equal(await page.locator('.msg.assistant .stopped').count(), 0, 'the stopped answer was replaced');
    // The settings travel with the request: a system prompt and the sampling fields.
    await page.click('#settings-toggle');
    await page.fill('#system', 'You tell short stories.');
    await page.locator('#system').dispatchEvent('change');
    await page.fill('#temperature', '0.3');
    await page.locator('#temperature').dispatchEvent('change');
    await page.click('#settings-toggle');
    const sent = bodies.length;
    await page.locator('.msg.user').last().locator('button:text("Edit")').click();
    await page.fill('.msg .edit', 'Tell me a short story');
    await page.click('button:text("Save and resend")');
    await until(page, (n) => document.querySelectorAll('.msg.assistant .badge .where').length === n, users, 'the answer');
    await page.locator('#send').waitFor();
    assert.equal(await page.locator('.msg.user .body').last().textContent(), 'Tell me a short story');
    assert.equal(await page.locator('.msg').count(), users * 2);
    assert.equal(bodies.at(-1).messages.at(-1).content, 'Tell me a short story');
    assert.deepEqual(bodies.at(-1).messages[0], { role: 'system', content: 'You tell short stories.' });
    assert.equal(bodies.at(-1).temperature, 0.3);
    assert.equal(bodies.at(-1).max_tokens, 16);
    assert.equal(bodies.length, sent + 1);
  });

  check('a reload keeps the conversation and the theme', async () => {
    await page.click('#theme');
    const theme = await page.evaluate(() => document.documentElement.dataset.theme);
    assert.ok(theme === 'dark' || theme === 'light');
    const count = await page.locator('.msg').count();
    await page.reload();
    await page.locator('.msg').nth(count - 1).waitFor();
    assert.equal(await page.locator('.msg').count(), count);
    assert.equal(await page.locator('.msg.user .body').first().textContent(), 'Once upon a time');
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), theme);
    await page.click('#theme'); // back, for the screenshots
  });

  check('markdown renders code blocks with copy buttons, and no script of an answer runs', async () => {
    const other = await context.newPage();
    // The hostile answer's image and handler are blocked by the page's CSP too, which the browser
    // reports; anything else would be an error.
    const otherErrors = watchErrors(other, (text) => /violates the following Content Security Policy/.test(text));
    await other.goto(`http://127.0.0.1:${local}/`);
    await other.evaluate(() => {
      const answer = 'Some **bold** text.\n\n```js\nconsole.log(1);\n```\n\n<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>';
      localStorage.setItem('bantam.conversations.v1', JSON.stringify([{ id: 'md', title: 'md', updated: 1, system: '',
        messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: answer, meta: { route: 'local', reason: 'local-first' } }] }]));
      localStorage.setItem('bantam.activeConversation', 'md');
    });
    await other.reload();
    const answer = other.locator('.msg.assistant .body');
    await answer.locator('pre button.copy').waitFor();
    assert.equal(await answer.locator('strong').textContent(), 'bold');
    assert.equal(await answer.locator('pre code').textContent(), 'console.log(1);\n');
    assert.equal(await other.evaluate(() => window.pwned), undefined);
    assert.equal(await answer.locator('script').count(), 0);
    assert.equal(await answer.locator('[onerror]').count(), 0, 'DOMPurify removed the handler');
    await other.close();
    assert.deepEqual(otherErrors, []);
  });

  check('screenshots at 390x844 and 1280x800 show the input box', async () => {
    for (const [width, height] of [[390, 844], [1280, 800]]) {
      await page.setViewportSize({ width, height });
      // On a phone the conversation list slides out of the way (after its transition).
      const folded = () => document.getElementById('sidebar').getBoundingClientRect().right <= 0;
      if (width < 700) await until(page, folded, null, 'the folded conversation list');
      else assert.equal(await page.evaluate(folded), false);
      const input = await page.locator('#input').boundingBox();
      assert.ok(input && input.y + input.height <= height && input.width > 150, `input box at ${width}x${height}`);
      const png = await page.screenshot();
      assert.ok(png.length > 8000, `screenshot ${width}x${height} is not blank (${png.length} bytes)`);
      writeFileSync(join(outDir, `chat-${width}x${height}.png`), png);
    }
  });

  check('an answer that cannot fit the context is explained, with a way out', async () => {
    await setMaxTokens(page, 4000); // the server holds 2048 positions
    await page.fill('#input', 'One more');
    await page.press('#input', 'Enter');
    await page.locator('#banner:not([hidden])').waitFor();
    assert.match(await page.textContent('#banner'), /no longer fits the model's context/);
    assert.equal(await page.locator('#banner button').textContent(), 'Drop the oldest turns and resend');
    assert.equal(await page.locator('.msg').last().locator('.body').textContent(), 'One more');
  });

  // The server that asks for a key and may use the loopback "cloud".
  const keyed = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  const keyedErrors = watchErrors(keyed, (text) => /status of 401/.test(text)); // the key probe itself
  const keyedBodies = [];
  keyed.on('request', (r) => r.url().endsWith('/v1/chat/completions') && keyedBodies.push(JSON.parse(r.postData())));

  check('the page asks for the API key once and keeps it for the tab', async () => {
    await keyed.goto(`http://127.0.0.1:${routed}/`);
    await keyed.locator('#key-dialog[open]').waitFor();
    await keyed.fill('#key-input', KEY);
    await keyed.press('#key-input', 'Enter');
    await keyed.locator('#model option[value="stories260K"]').waitFor({ state: 'attached' });
    assert.equal(await keyed.locator('#allow-cloud').isEnabled(), true);
    await keyed.reload();
    await keyed.locator('#model option[value="stories260K"]').waitFor({ state: 'attached' });
    assert.equal(await keyed.locator('#key-dialog[open]').count(), 0);
  });

  check('with the switch off nothing leaves: route local, badge "on this device"', async () => {
    await setMaxTokens(keyed, 16);
    const answer = await sendAndWait(keyed, 'Mail ann@example.com a story');
    assert.equal(await answer.locator('.badge .where').textContent(), 'on this device');
    assert.match(await answer.locator('.badge').textContent(), /cloud switched off for this conversation/);
    assert.deepEqual(keyedBodies.at(-1).bantam, { route: 'local' });
  });

  check('switched on, a forced-cloud request shows the cloud badge and the redaction classes', async () => {
    await keyed.check('#allow-cloud');
    await keyed.selectOption('#route', 'cloud');
    const answer = await sendAndWait(keyed, 'Mail ann@example.com a story');
    assert.equal(await answer.locator('.badge .where').textContent(), `cloud: 127.0.0.1:${cloud}`);
    assert.match(await answer.locator('.badge .redacted').textContent(), /EMAIL ×1/);
    assert.deepEqual(keyedBodies.at(-1).bantam, { cloud_consent: true, route: 'cloud' });
    await keyed.screenshot({ path: join(outDir, 'chat-cloud-1280x800.png') });
  });

  check('when the cloud fails the device answers, and the badge says so', async () => {
    const cloudServer = serverOnPort.get(cloud);
    const gone = new Promise((resolve) => cloudServer.once('close', resolve));
    cloudServer.kill('SIGTERM');
    await gone;
    const answer = await sendAndWait(keyed, 'Once upon a time');
    assert.equal(await answer.locator('.badge .where').textContent(), 'on this device');
    assert.match(await answer.locator('.badge').textContent(), /the cloud failed, so this device answered/);
  });

  check('no console errors on either page', async () => {
    assert.deepEqual(errors, []);
    assert.deepEqual(keyedErrors, []);
  });

  mkdirSync(outDir, { recursive: true });
  let failed = 0;
  for (const { name, fn } of cases) {
    try {
      await fn();
      console.log(`ok   ${name}`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}\n     ${e.stack || e}`);
    }
  }
  process.exitCode = failed ? 1 : 0;
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  for (const child of servers) child.kill('SIGTERM');
}
