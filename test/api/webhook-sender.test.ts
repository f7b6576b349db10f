import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { postWebhook } from '../../src/webhooks/webhook-sender';

/** A receiver in its own process, so it answers while this process's event loop is blocked. */
async function startReceiverProcess(): Promise<{ child: ChildProcess; base: string }> {
  const script = `
    const http = require('node:http');
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/silent') return; // never answers
        if (req.url === '/accepted-later') return setTimeout(() => res.writeHead(202).end(), 50);
        res.writeHead(req.url === '/accepted' ? 202 : 500).end();
      });
    });
    server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, base: `http://127.0.0.1:${Number(chunk.toString().trim())}` };
}

function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // Busy: stands in for a long synchronous graph build or training step in the same process.
  }
}

describe('postWebhook', () => {
  let receiver: Awaited<ReturnType<typeof startReceiverProcess>>;
  before(async () => {
    receiver = await startReceiverProcess();
  });
  after(() => {
    receiver?.child.kill();
  });

  it('returns the status code of the answer', async () => {
    assert.deepEqual(await postWebhook(`${receiver.base}/accepted`, {}, '{}', 2_000), { statusCode: 202 });
    assert.deepEqual(await postWebhook(`${receiver.base}/error`, {}, '{}', 2_000), { statusCode: 500 });
  });

  it('counts an answer that arrived while this process was busy past the deadline', async () => {
    const sending = postWebhook(`${receiver.base}/accepted-later`, {}, '{}', 100);
    await new Promise((resolve) => setTimeout(resolve, 20)); // the request leaves; the answer comes 50 ms later
    // Busy in the check phase: the next loop turn runs due timers before it reads sockets.
    await new Promise<void>((resolve) => setImmediate(() => (blockEventLoop(600), resolve())));
    assert.deepEqual(await sending, { statusCode: 202 });
  });

  it('gives up on a receiver that never answers', async () => {
    const started = Date.now();
    const result = await postWebhook(`${receiver.base}/silent`, {}, '{}', 200);
    assert.deepEqual(result, { statusCode: null, error: 'timed out after 200 ms' });
    assert.ok(Date.now() - started >= 190);
  });

  it('refuses URLs it cannot send to', async () => {
    assert.deepEqual(await postWebhook('ftp://127.0.0.1/x', {}, '{}', 200), { statusCode: null, error: 'unsupported protocol ftp:' });
    assert.deepEqual(await postWebhook('not a url', {}, '{}', 200), { statusCode: null, error: 'invalid URL' });
  });
});
