import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAppLogger } from '../../src/logging/app.logger';
import { startWorkerProcess, stopWorkerProcess, WorkerProcess } from '../support/scale-out';
import { startServerProcess } from '../support/server-process';

const ANSI = /\x1b\[/;

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitForOutput(worker: WorkerProcess, text: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!worker.output().includes(text)) {
    if (worker.child.exitCode !== null) throw new Error(`worker exited early:\n${worker.output()}`);
    if (Date.now() > deadline) throw new Error(`no "${text}" within ${timeoutMs} ms:\n${worker.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function stillRunningAfter(ms: number): Promise<'still running'> {
  return new Promise((resolve) => setTimeout(() => resolve('still running'), ms).unref());
}

/** Runs `write` with process.stdout captured. */
function captureStdout(write: () => void): string {
  let captured = '';
  const original = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    captured += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    write();
  } finally {
    process.stdout.write = original;
  }
  return captured;
}

describe('process logs', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'saas-logs-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('colours text only on a terminal, and never with NO_COLOR', () => {
    const noColor = process.env.NO_COLOR;
    delete process.env.NO_COLOR;
    try {
      const onTerminal = createAppLogger(['log'], 'text', { isTTY: true });
      const onPipe = createAppLogger(['log'], 'text', { isTTY: false });
      assert.ok(onTerminal && onPipe);
      assert.match(captureStdout(() => onTerminal.log('hello', 'Test')), ANSI);
      const plain = captureStdout(() => onPipe.log('hello', 'Test'));
      assert.doesNotMatch(plain, ANSI);
      assert.match(plain, /LOG \[Test\] hello/);
      process.env.NO_COLOR = '1';
      const told = createAppLogger(['log'], 'text', { isTTY: true });
      assert.ok(told);
      assert.doesNotMatch(captureStdout(() => told.log('hello', 'Test')), ANSI);
    } finally {
      if (noColor === undefined) delete process.env.NO_COLOR;
      else process.env.NO_COLOR = noColor;
    }
    assert.equal(createAppLogger([], 'text'), false);
  });

  it('writes one JSON object per line with time, level, context, message and fields', () => {
    const logger = createAppLogger(['log', 'error'], 'json', { isTTY: true });
    assert.ok(logger);
    const lines = captureStdout(() => {
      logger.log('plain text', 'Worker');
      logger.log({ message: 'claimed a job', jobId: 'ft_1', attempt: 2, level: 'not a level' }, 'Worker');
    })
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.equal(lines.length, 2);
    for (const line of lines) {
      assert.ok(!Number.isNaN(Date.parse(line.time)), line.time);
      assert.equal(line.level, 'log');
      assert.equal(line.context, 'Worker');
      assert.equal(line.pid, process.pid);
    }
    assert.equal(lines[0].message, 'plain text');
    assert.deepEqual([lines[1].message, lines[1].jobId, lines[1].attempt], ['claimed a job', 'ft_1', 2]);
  });

  it('are plain text when the API writes to a pipe', async () => {
    const server = await startServerProcess({ DATA_DIR: join(root, 'api'), MODELS_DIR: join(root, 'models'), EMBEDDED_WORKER: 'false', NO_COLOR: '' });
    await server.stop();
    assert.match(server.output(), /LOG \[Bootstrap\] Listening on/);
    assert.doesNotMatch(server.output(), ANSI);
  });

  it('are JSON lines from the worker with LOG_FORMAT=json', async () => {
    const worker = startWorkerProcess('json-worker', { DATA_DIR: join(root, 'worker'), MODELS_DIR: join(root, 'models'), LOG_FORMAT: 'json', NO_COLOR: '' });
    try {
      await waitForOutput(worker, 'polling for fine-tunes');
    } finally {
      await stopWorkerProcess(worker);
    }
    const lines = worker
      .output()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const polling = lines.find((line) => String(line.message).includes('polling for fine-tunes'));
    assert.ok(polling, worker.output());
    assert.deepEqual([polling.level, polling.context], ['log', 'FineTuneWorker']);
    assert.ok(lines.some((line) => line.context === 'Worker' && line.message === 'Stopping (SIGTERM)'));
  });

  it('stop a process at start when LOG_FORMAT is not text or json', async () => {
    const worker = startWorkerProcess('bad-format', { DATA_DIR: join(root, 'bad'), LOG_FORMAT: 'yaml' });
    try {
      const ended = await Promise.race([worker.exited, stillRunningAfter(20_000)]);
      assert.deepEqual(ended, { code: 2, signal: null });
      assert.match(worker.output(), /LOG_FORMAT must be text or json, got "yaml"/);
    } finally {
      await stopWorkerProcess(worker);
    }
  });
});

describe('worker shutdown', () => {
  it('exits non-zero within SHUTDOWN_TIMEOUT_MS when Redis is gone', async () => {
    const root = mkdtempSync(join(tmpdir(), 'saas-shutdown-'));
    const deadlineMs = 1_500;
    const worker = startWorkerProcess('no-redis', {
      DATA_DIR: join(root, 'data'),
      MODELS_DIR: join(root, 'models'),
      REDIS_URL: `redis://127.0.0.1:${await closedPort()}/0`,
      SHUTDOWN_TIMEOUT_MS: String(deadlineMs),
    });
    try {
      // Polling means the signal handlers are in place; then Redis refuses.
      await waitForOutput(worker, 'polling for fine-tunes');
      await waitForOutput(worker, 'ECONNREFUSED');
      const signalled = Date.now();
      worker.child.kill('SIGTERM');
      const ended = await Promise.race([worker.exited, stillRunningAfter(deadlineMs + 10_000)]);
      assert.notEqual(ended, 'still running', `no exit ${deadlineMs + 10_000} ms after SIGTERM:\n${worker.output().slice(-2000)}`);
      const elapsed = Date.now() - signalled;
      assert.ok(elapsed >= deadlineMs - 100, `exited after ${elapsed} ms, before the deadline`);
      assert.deepEqual(ended, { code: 1, signal: null });
      assert.match(worker.output(), /Shutdown did not finish within 1500 ms/);
    } finally {
      if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
      await worker.exited;
      rmSync(root, { recursive: true, force: true });
    }
  });
});
