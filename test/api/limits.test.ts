import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MemoryRateLimiter } from '../../src/limits/memory-rate-limiter.driver';
import { RedisRateLimiter } from '../../src/limits/redis-rate-limiter.driver';
import { createRedisConnection } from '../../src/queue/redis-connection';
import { png } from '../support/images';
import { buildZip } from '../support/zip-writer';
import { bearer, createTenant, startTestApp, TestApp } from '../support/test-app';
import { writeTinyModel } from '../support/tiny-model';

function assertTooMany(res: { status: number; headers: Record<string, string>; body: { statusCode: number; error: string; message: string } }, message: RegExp): void {
  assert.equal(res.status, 429, JSON.stringify(res.body));
  assert.deepEqual([res.body.statusCode, res.body.error], [429, 'Too Many Requests']);
  assert.match(res.body.message, message);
  const retryAfter = Number(res.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After: ${res.headers['retry-after']}`);
}

describe('rate limits and quotas', () => {
  let modelsDir: string;
  let t: TestApp;

  before(async () => {
    modelsDir = mkdtempSync(join(tmpdir(), 'saas-limits-models-'));
    await writeTinyModel(modelsDir);
    t = await startTestApp({
      modelsDir,
      tenantLimits: { ratePerMinute: 20, generationsPerMinute: 2, concurrentFineTunes: 1, imagesPerDataset: 5, storageBytes: 0 },
    });
  });
  after(async () => {
    await t.close();
    rmSync(modelsDir, { recursive: true, force: true });
  });

  it('limits requests per API key with a token bucket: 429 with Retry-After, other keys unaffected', async () => {
    const { apiKey } = await createTenant(t, 'Busy');
    const { apiKey: other } = await createTenant(t, 'Calm');
    const statuses: number[] = [];
    let limited;
    for (let i = 0; i < 25 && !limited; i++) {
      const res = await t.http().get('/v1/datasets').set(...bearer(apiKey));
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    assert.deepEqual(statuses.slice(0, 20), Array(20).fill(200), 'the burst is the per-minute rate');
    assertTooMany(limited!, /Rate limit exceeded: 20 requests per minute per API key \(RATE_LIMIT_PER_MINUTE\)/);
    assert.ok(Number(limited!.headers['retry-after']) <= 3);
    assert.equal((await t.http().get('/v1/datasets').set(...bearer(other))).status, 200);
    assert.equal((await t.http().get('/health')).status, 200, 'public routes are not limited');
  });

  it('has a stricter bucket for generations', async () => {
    const { apiKey } = await createTenant(t, 'Painter');
    const generate = () => t.http().post('/v1/generations').set(...bearer(apiKey)).send({ prompt: 'sun', steps: 1 });
    assert.equal((await generate()).status, 201);
    assert.equal((await generate()).status, 201);
    const third = await generate();
    assertTooMany(third, /2 generations per minute per API key \(GENERATION_RATE_LIMIT_PER_MINUTE\)/);
    assert.ok(Number(third.headers['retry-after']) >= 20, 'a token refills in 30 s');
    assert.equal((await t.http().get('/v1/generations').set(...bearer(apiKey))).status, 200, 'other endpoints still answer');
  });

  it('enforces the concurrent fine-tune and images-per-dataset quotas, naming them', async () => {
    const { apiKey } = await createTenant(t, 'Trainer');
    const dataset = await t.http().post('/v1/datasets').set(...bearer(apiKey)).send({ name: 'board' });
    const upload = async (from: number, count: number) => {
      let req = t.http().post(`/v1/datasets/${dataset.body.id}/images`).set(...bearer(apiKey));
      for (let i = from; i < from + count; i++) req = req.attach('images', await png(24, 24, { r: 30 * i, g: 90, b: 10 }, i), `i${i}.png`);
      return req;
    };
    assert.equal((await upload(0, 4)).status, 200);
    assertTooMany(await upload(4, 2), /Quota imagesPerDataset exceeded: the dataset has 4 image\(s\) and this upload sends 2, the limit is 5 \(QUOTA_IMAGES_PER_DATASET\)/);
    assert.equal((await upload(4, 1)).status, 200);

    const fineTune = () => t.http().post('/v1/fine-tunes').set(...bearer(apiKey)).send({ datasetId: dataset.body.id, method: 'sft' });
    const first = await fineTune();
    assert.equal(first.status, 201);
    assertTooMany(await fineTune(), /Quota concurrentFineTunes exceeded: 1 fine-tune\(s\) queued or running, the limit is 1 \(QUOTA_CONCURRENT_FINE_TUNES\)/);
    assert.equal((await t.http().post(`/v1/fine-tunes/${first.body.id}/cancel`).set(...bearer(apiKey))).status, 200);
    assert.equal((await fineTune()).status, 201, 'a slot frees when a job ends');
  });

  it('enforces the storage quota', async () => {
    const small = await startTestApp({ tenantLimits: { storageBytes: 1 } });
    try {
      const { apiKey } = await createTenant(small, 'Hoarder');
      const dataset = await small.http().post('/v1/datasets').set(...bearer(apiKey)).send({ name: 'board' });
      const res = await small.http().post(`/v1/datasets/${dataset.body.id}/images`).set(...bearer(apiKey)).attach('images', await png(24, 24), 'a.png');
      assertTooMany(res, /Quota storageBytes exceeded: 0 bytes stored and \d+ more requested, the limit is 1 \(QUOTA_STORAGE_MB\)/);
      // A zip counts the images it holds (their declared sizes) before anything is inflated or stored.
      const images = [await png(24, 24, undefined, 1), await png(24, 24, undefined, 2)];
      const zip = buildZip(images.map((data, i) => ({ name: `img${i}.png`, data, deflate: true })));
      const zipped = await small.http().post(`/v1/datasets/${dataset.body.id}/images`).set(...bearer(apiKey)).attach('archive', zip, 'board.zip');
      assertTooMany(zipped, new RegExp(`Quota storageBytes exceeded: 0 bytes stored and ${images[0].length + images[1].length} more requested`));
      const detail = await small.http().get(`/v1/datasets/${dataset.body.id}`).set(...bearer(apiKey));
      assert.equal(detail.body.imageCount, 0, 'nothing from the refused archive was stored');
    } finally {
      await small.close();
    }
  });

  it('token buckets refill at the configured rate (memory and, with TEST_REDIS_URL, Redis shared by replicas)', async () => {
    const memory = new MemoryRateLimiter();
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) assert.equal((await memory.take('k', 3, t0)).allowed, true);
    assert.deepEqual(await memory.take('k', 3, t0), { allowed: false, retryAfterS: 20 });
    assert.equal((await memory.take('k', 3, t0 + 20_000)).allowed, true);
    if (!process.env.TEST_REDIS_URL) return;
    // Two limiters on one Redis stand for two API replicas: they draw from one bucket.
    const a = new RedisRateLimiter(createRedisConnection(process.env.TEST_REDIS_URL));
    const b = new RedisRateLimiter(createRedisConnection(process.env.TEST_REDIS_URL));
    try {
      const key = `test-${Date.now()}-${Math.random()}`;
      const decisions = [];
      for (let i = 0; i < 4; i++) decisions.push(await (i % 2 ? a : b).take(key, 3));
      assert.deepEqual(decisions.map((d) => d.allowed), [true, true, true, false]);
      assert.equal(decisions[3].retryAfterS, 20);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
