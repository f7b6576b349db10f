import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verifyWebhook } from '../../src/webhooks/webhook-signature';
import { png } from '../support/images';
import { startInProcessWorker } from '../support/in-process-worker';
import { waitFor } from '../support/sse';
import { bearer, createTenant, startTestApp, TestApp } from '../support/test-app';
import { writeTinyModel } from '../support/tiny-model';

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type ReceiverAnswer = { status: number; headers?: Record<string, string> };

/** A loopback receiver: records every request and answers with what `respond` says for its path. */
async function startReceiver(respond: (path: string, n: number) => ReceiverAnswer | Promise<ReceiverAnswer>) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      void Promise.resolve(respond(req.url ?? '', received.filter((r) => r.path === req.url).length)).then((answer) =>
        res.writeHead(answer.status, answer.headers).end('ok'),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A tenant with a four-image dataset, ready for fine-tunes. */
async function createTenantWithDataset(t: TestApp) {
  const tenant = (await createTenant(t)) as { id: string; apiKey: string; webhookSecret: string };
  const dataset = await t.http().post('/v1/datasets').set(...bearer(tenant.apiKey)).send({ name: 'board' });
  let upload = t.http().post(`/v1/datasets/${dataset.body.id}/images`).set(...bearer(tenant.apiKey));
  for (let i = 0; i < 4; i++) upload = upload.attach('images', await png(24, 24, { r: 60 * i, g: 90, b: 20 }, i), `i${i}.png`);
  assert.equal((await upload).status, 200);
  return { tenant, datasetId: dataset.body.id as string };
}

describe('fine-tune webhooks', () => {
  let modelsDir: string;
  let t: TestApp;
  let tenant: { id: string; apiKey: string; webhookSecret: string };
  let datasetId: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  const deliveries = async (id: string) => (await t.http().get(`/v1/fine-tunes/${id}/webhook-deliveries`).set(...bearer(tenant.apiKey))).body.data;
  const createJob = (path: string, steps = 8) =>
    t.http().post('/v1/fine-tunes').set(...bearer(tenant.apiKey)).send({ datasetId, method: 'sft', hyperparameters: { steps, batchSize: 1 }, webhookUrl: `${receiver.base}${path}` });

  before(async () => {
    modelsDir = mkdtempSync(join(tmpdir(), 'saas-webhook-models-'));
    await writeTinyModel(modelsDir);
    t = await startTestApp({ modelsDir, webhooks: { pollMs: 50, backoffMs: 50, maxAttempts: 3, timeoutMs: 10_000 } });
    // The receiver shares this process with the in-process worker, whose session loads block the event
    // loop for seconds on a busy machine: a generous deadline keeps the attempt counts deterministic.
    ({ tenant, datasetId } = await createTenantWithDataset(t));
    receiver = await startReceiver((path, n) => {
      if (path === '/flaky') return { status: n <= 2 ? 500 : 204 };
      if (path === '/moved') return { status: 302, headers: { Location: `${receiver.base}/elsewhere` } };
      return { status: 200 };
    });
  });
  after(async () => {
    await receiver?.close();
    await t.close();
    rmSync(modelsDir, { recursive: true, force: true });
  });

  it('gives each tenant a signing secret at creation, readable and rotatable', async () => {
    assert.match(tenant.webhookSecret, /^whsec_[0-9a-f]{48}$/);
    const read = await t.http().get('/v1/webhooks/secret').set(...bearer(tenant.apiKey));
    assert.deepEqual(read.body, { webhookSecret: tenant.webhookSecret });
    const other = await createTenant(t, 'Other');
    assert.notEqual((await t.http().get('/v1/webhooks/secret').set(...bearer(other.apiKey))).body.webhookSecret, tenant.webhookSecret);
  });

  it('sends started, progress milestones and succeeded, each signed over "<timestamp>.<body>"', async () => {
    const created = await createJob('/hook');
    assert.equal(created.status, 201);
    const worker = await startInProcessWorker(t.config);
    try {
      assert.equal((await worker.worker.runOnce())?.outcome, 'succeeded');
    } finally {
      await worker.close();
    }
    const hooks = await waitFor(async () => {
      const got = receiver.received.filter((r) => r.path === '/hook');
      return got.length >= 5 ? got : undefined;
    }, 'five webhooks');
    const events = hooks.map((h) => JSON.parse(h.body));
    assert.deepEqual(events.map((e) => (e.milestone ? `${e.type}:${e.milestone}` : e.type)).sort(), [
      'fine_tune.progress:25', 'fine_tune.progress:50', 'fine_tune.progress:75', 'fine_tune.started', 'fine_tune.succeeded',
    ].sort());
    for (const hook of hooks) {
      assert.equal(hook.headers['content-type'], 'application/json');
      const signature = hook.headers['x-saas-signature'] as string;
      assert.match(signature, /^sha256=[0-9a-f]{64}$/);
      assert.ok(verifyWebhook(tenant.webhookSecret, hook.headers['x-saas-timestamp'] as string, hook.body, signature), 'valid signature');
      assert.ok(!verifyWebhook(tenant.webhookSecret, hook.headers['x-saas-timestamp'] as string, `${hook.body} `, signature), 'the body is signed');
      assert.equal(hook.headers['x-saas-event'], JSON.parse(hook.body).type);
    }
    const succeeded = events.find((e) => e.type === 'fine_tune.succeeded');
    assert.equal(succeeded.data.fineTune.id, created.body.id);
    assert.equal(succeeded.data.fineTune.status, 'succeeded');
    assert.ok(succeeded.data.fineTune.adapterId);
    const log = await waitFor(async () => {
      const rows = await deliveries(created.body.id);
      return rows.length === 5 && rows.every((r: { status: string }) => r.status === 'delivered') ? rows : undefined;
    }, 'the delivery log');
    assert.deepEqual(log.map((r: { attempts: number; lastStatusCode: number }) => [r.attempts, r.lastStatusCode]), Array(5).fill([1, 200]));
  });

  it('retries after 500s with backoff until delivered', async () => {
    const created = await createJob('/flaky');
    assert.equal((await t.http().post(`/v1/fine-tunes/${created.body.id}/cancel`).set(...bearer(tenant.apiKey))).status, 200);
    const [row] = await waitFor(async () => {
      const rows = await deliveries(created.body.id);
      return rows[0]?.status === 'delivered' ? rows : undefined;
    }, 'the canceled event after two 500s');
    assert.deepEqual([row.event, row.attempts, row.lastStatusCode, row.lastError], ['fine_tune.canceled', 3, 204, null]);
    const bodies = receiver.received.filter((r) => r.path === '/flaky').map((r) => r.body);
    assert.equal(bodies.length, 3);
    assert.equal(new Set(bodies).size, 1, 'every attempt sends the same event');
  });

  it('does not follow redirects: a 3xx is a failed attempt, and attempts are bounded', async () => {
    const created = await createJob('/moved');
    await t.http().post(`/v1/fine-tunes/${created.body.id}/cancel`).set(...bearer(tenant.apiKey));
    const [row] = await waitFor(async () => {
      const rows = await deliveries(created.body.id);
      return rows[0]?.status === 'failed' ? rows : undefined;
    }, 'the delivery to give up');
    assert.deepEqual([row.attempts, row.lastStatusCode], [3, 302]);
    assert.match(row.lastError, /redirect \(302\) not followed/);
    assert.equal(receiver.received.filter((r) => r.path === '/elsewhere').length, 0);
  });

  it('signs with the rotated secret from then on', async () => {
    const rotated = await t.http().post('/v1/webhooks/secret/rotate').set(...bearer(tenant.apiKey));
    assert.equal(rotated.status, 200);
    assert.notEqual(rotated.body.webhookSecret, tenant.webhookSecret);
    const created = await createJob('/rotated');
    await t.http().post(`/v1/fine-tunes/${created.body.id}/cancel`).set(...bearer(tenant.apiKey));
    const hook = await waitFor(async () => receiver.received.find((r) => r.path === '/rotated'), 'the webhook');
    assert.ok(verifyWebhook(rotated.body.webhookSecret, hook.headers['x-saas-timestamp'] as string, hook.body, hook.headers['x-saas-signature'] as string));
    assert.ok(!verifyWebhook(tenant.webhookSecret, hook.headers['x-saas-timestamp'] as string, hook.body, hook.headers['x-saas-signature'] as string));
  });

  it('answers 404 for another tenant’s job', async () => {
    const other = await createTenant(t, 'Nosy');
    const created = await createJob('/hook', 4);
    const res = await t.http().get(`/v1/fine-tunes/${created.body.id}/webhook-deliveries`).set(...bearer(other.apiKey));
    assert.equal(res.status, 404);
  });
});

describe('webhook delivery at shutdown', () => {
  it('finishes an attempt in flight before the process closes its database connection', async () => {
    const modelsDir = mkdtempSync(join(tmpdir(), 'saas-webhook-models-'));
    await writeTinyModel(modelsDir);
    // The API's loop polls once at start-up and then not for an hour, so the worker's loop is the one that claims the delivery.
    const t = await startTestApp({ modelsDir, webhooks: { pollMs: 3_600_000, backoffMs: 50, maxAttempts: 3, timeoutMs: 10_000 } });
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    const receiver = await startReceiver(async () => {
      await answered;
      return { status: 200 };
    });
    try {
      const { tenant, datasetId } = await createTenantWithDataset(t);
      const created = await t.http().post('/v1/fine-tunes').set(...bearer(tenant.apiKey)).send({ datasetId, method: 'sft', hyperparameters: { steps: 4, batchSize: 1 }, webhookUrl: `${receiver.base}/slow` });
      assert.equal((await t.http().post(`/v1/fine-tunes/${created.body.id}/cancel`).set(...bearer(tenant.apiKey))).status, 200);
      const worker = await startInProcessWorker(t.config);
      await waitFor(async () => (receiver.received.length > 0 ? true : undefined), 'the attempt to reach the receiver');
      const closing = worker.close();
      setTimeout(answer, 200);
      await closing;
      const rows = (await t.http().get(`/v1/fine-tunes/${created.body.id}/webhook-deliveries`).set(...bearer(tenant.apiKey))).body.data;
      assert.deepEqual(rows.map((r: { status: string; attempts: number; lastStatusCode: number }) => [r.status, r.attempts, r.lastStatusCode]), [['delivered', 1, 200]]);
    } finally {
      answer();
      await receiver.close();
      await t.close();
      rmSync(modelsDir, { recursive: true, force: true });
    }
  });
});
