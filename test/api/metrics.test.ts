import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { png } from '../support/images';
import { bearer, createTenant, startTestApp, TestApp } from '../support/test-app';
import { tinyLora, writeTinyModel } from '../support/tiny-model';

/** The value of one sample line, e.g. `name{a="b"} 3`; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return undefined;
}

describe('GET /metrics', () => {
  let modelsDir: string;
  let t: TestApp;
  let key: string;

  before(async () => {
    modelsDir = mkdtempSync(join(tmpdir(), 'saas-metrics-models-'));
    await writeTinyModel(modelsDir);
    t = await startTestApp({ modelsDir, generation: { batchWindowMs: 100 } });
    key = (await createTenant(t)).apiKey;
  });
  after(async () => {
    await t.close();
    rmSync(modelsDir, { recursive: true, force: true });
  });

  const scrape = async () => {
    const res = await t.http().get('/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/plain;.*version=0\.0\.4/);
    return res.text;
  };

  it('exports request latencies by route template, queue gauges, generation batches, adapter cache counters and process metrics', async () => {
    const adapter = await t.http().post('/v1/adapters').set(...bearer(key)).field('name', 'style').attach('file', tinyLora(1).file, 's.safetensors');
    assert.equal(adapter.status, 201);
    // Three concurrent generations with one adapter, batched into as few engine calls as arrive together.
    const results = await Promise.all([0, 1, 2].map((seed) => t.http().post('/v1/generations').set(...bearer(key)).send({ prompt: 'sun', seed, steps: 2, adapters: [{ id: adapter.body.id }] })));
    for (const r of results) assert.equal(r.status, 201, JSON.stringify(r.body));
    const missing = await t.http().get('/v1/generations/00000000-0000-4000-8000-000000000000').set(...bearer(key));
    assert.equal(missing.status, 404);
    const dataset = await t.http().post('/v1/datasets').set(...bearer(key)).send({ name: 'board' });
    let upload = t.http().post(`/v1/datasets/${dataset.body.id}/images`).set(...bearer(key));
    for (let i = 0; i < 4; i++) upload = upload.attach('images', await png(24, 24, { r: 50 * i, g: 100, b: 30 }, i), `i${i}.png`);
    assert.equal((await upload).status, 200);
    assert.equal((await t.http().post('/v1/fine-tunes').set(...bearer(key)).send({ datasetId: dataset.body.id, method: 'sft' })).status, 201);

    const text = await scrape();
    assert.equal(sample(text, 'saas_http_request_duration_seconds_count', { method: 'POST', route: '/v1/generations', status: '201' }), 3);
    assert.equal(sample(text, 'saas_http_request_duration_seconds_count', { method: 'GET', route: '/v1/generations/:id', status: '404' }), 1);
    assert.ok(!text.includes('00000000-0000-4000'), 'ids never become labels');
    assert.equal(sample(text, 'saas_fine_tunes', { status: 'queued' }), 1);
    assert.equal(sample(text, 'saas_fine_tunes', { status: 'running' }), 0);
    assert.equal(sample(text, 'saas_fine_tune_queue_depth'), 1);
    assert.equal(sample(text, 'saas_generation_duration_seconds_count', { outcome: 'ok' }), 3);
    const calls = sample(text, 'saas_generation_batch_requests_count')!;
    assert.ok(calls >= 1 && calls <= 3, `engine calls: ${calls}`);
    assert.equal(sample(text, 'saas_generation_batch_requests_sum'), 3);
    assert.equal(sample(text, 'saas_generation_batch_images_sum'), 3);
    const misses = sample(text, 'saas_adapter_cache_misses')!;
    assert.ok(misses >= 1);
    assert.equal(misses + sample(text, 'saas_adapter_cache_hits')!, 3, 'one lookup per generation');
    // The adapter is parsed once; later generations hit the cache.
    assert.equal((await t.http().post('/v1/generations').set(...bearer(key)).send({ prompt: 'sun', steps: 2, adapters: [{ id: adapter.body.id }] })).status, 201);
    assert.equal(sample(await scrape(), 'saas_adapter_cache_misses'), misses);
    assert.ok((sample(text, 'saas_process_cpu_user_seconds_total') ?? -1) > 0);
    assert.ok((sample(text, 'saas_nodejs_heap_size_used_bytes') ?? -1) > 0);
  });

  it('needs the bearer token when METRICS_TOKEN is set', async () => {
    const guarded = await startTestApp({ metricsToken: 'metrics-secret-123' });
    try {
      const none = await guarded.http().get('/metrics');
      assert.equal(none.status, 401);
      assert.match(none.body.message, /METRICS_TOKEN/);
      assert.equal((await guarded.http().get('/metrics').set('Authorization', 'Bearer wrong')).status, 401);
      const ok = await guarded.http().get('/metrics').set('Authorization', 'Bearer metrics-secret-123');
      assert.equal(ok.status, 200);
      assert.match(ok.text, /saas_http_request_duration_seconds_count\{method="GET",route="\/metrics",status="401"\} 2/);
    } finally {
      await guarded.close();
    }
  });
});
