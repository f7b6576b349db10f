import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { GenerationBatcher } from '../../src/inference/generation-batcher.service';
import { InferenceService } from '../../src/inference/inference.service';
import { tinyLora, writeTinyModel } from '../support/tiny-model';
import { bearer, createTenant, startTestApp, TestApp } from '../support/test-app';
import { binaryParser } from '../support/binary-parser';
import { DataSource } from 'typeorm';
import { sql } from '../support/test-database';

describe('generations', () => {
  let modelsDir: string;
  let t: TestApp;
  let key: string;
  let otherKey: string;
  let adapterIds: string[] = [];
  let otherAdapterId: string;

  const generate = (apiKey: string, body: Record<string, unknown>) => t.http().post('/v1/generations').set(...bearer(apiKey)).send(body);

  before(async () => {
    modelsDir = mkdtempSync(join(tmpdir(), 'saas-gen-models-'));
    await writeTinyModel(modelsDir);
    // Same architecture under another name: its adapters fit the layers of both.
    await writeTinyModel(modelsDir, 7, 'other-base');
    // A wide window makes the batching assertion independent of machine load.
    t = await startTestApp({ modelsDir, generation: { batchWindowMs: 150 } });
    key = (await createTenant(t, 'A')).apiKey;
    otherKey = (await createTenant(t, 'B')).apiKey;
    for (const seed of [1, 2, 3]) {
      const res = await t.http().post('/v1/adapters').set(...bearer(key)).field('name', `style-${seed}`).attach('file', tinyLora(seed).file, `s${seed}.safetensors`);
      assert.equal(res.status, 201, JSON.stringify(res.body));
      adapterIds.push(res.body.id);
    }
    const other = await t.http().post('/v1/adapters').set(...bearer(otherKey)).field('name', 'b-style').attach('file', tinyLora(9).file, 'b.safetensors');
    otherAdapterId = other.body.id;
  });
  after(async () => {
    await t.close();
    rmSync(modelsDir, { recursive: true, force: true });
  });

  it('generates PNGs, stores them and serves them again', async () => {
    const res = await generate(key, { prompt: 'red heart', seed: 5, steps: 4, numImages: 2 });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.seed, 5);
    assert.equal(res.body.model, 'emoji-base');
    assert.deepEqual([res.body.steps, res.body.guidanceScale, res.body.scheduler], [4, 4, 'dpmpp-2m']);
    assert.equal(res.body.images.length, 2);
    const [first] = res.body.images;
    assert.equal(first.mimeType, 'image/png');
    assert.equal(first.url, `/v1/generations/${res.body.id}/images/0`);
    const png = Buffer.from(first.data, 'base64');
    assert.deepEqual([(await sharp(png).metadata()).width, first.width], [16, 16]);

    const fetched = await t.http().get(first.url).set(...bearer(key)).buffer(true).parse(binaryParser);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.headers['content-type'], 'image/png');
    assert.ok((fetched.body as Buffer).equals(png));
    const big = await t.http().get(`${first.url}?upscale=4`).set(...bearer(key)).buffer(true).parse(binaryParser);
    assert.equal((await sharp(big.body as Buffer).metadata()).width, 64);

    const detail = await t.http().get(`/v1/generations/${res.body.id}`).set(...bearer(key));
    assert.equal(detail.status, 200);
    assert.equal(detail.body.images[0].data, undefined, 'no image data outside the create response');
    const list = await t.http().get('/v1/generations?limit=1').set(...bearer(key));
    assert.deepEqual(list.body.data.map((g: { id: string }) => g.id), [res.body.id]);

    const random = await generate(key, { prompt: 'sun', steps: 1 });
    assert.equal(random.status, 201);
    assert.ok(Number.isInteger(random.body.seed) && random.body.seed >= 0 && random.body.seed < 2 ** 31, 'random seed echoed');

    for (const scheduler of ['euler', 'euler-ancestral', 'pndm']) {
      const res = await generate(key, { prompt: 'sun', steps: 2, scheduler });
      assert.equal(res.status, 201, `${scheduler}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.scheduler, scheduler);
    }
  });

  it('batches concurrent requests with different adapters and tenants into fewer engine calls, with identical results', async () => {
    const batcher = t.app.get(GenerationBatcher);
    const requests = [
      { apiKey: key, body: { prompt: 'red heart', seed: 11, steps: 6, adapters: [{ id: adapterIds[0], scale: 1 }] } },
      { apiKey: key, body: { prompt: 'cat face', seed: 12, steps: 6, adapters: [{ id: adapterIds[1], scale: 0.5 }], guidanceScale: 2 } },
      { apiKey: key, body: { prompt: 'sun', seed: 13, steps: 6, adapters: [{ id: adapterIds[2], scale: -1 }, { id: adapterIds[0] }], numImages: 2 } },
      { apiKey: otherKey, body: { prompt: 'rocket', seed: 14, steps: 6, adapters: [{ id: otherAdapterId, scale: 1.5 }] } },
      { apiKey: otherKey, body: { prompt: 'tree', seed: 15, steps: 3, scheduler: 'ddim', negativePrompt: 'red' } },
      { apiKey: key, body: { prompt: 'pizza', seed: 16, steps: 6 } },
    ];
    const before = batcher.stats();
    const together = await Promise.all(requests.map((r) => generate(r.apiKey, r.body)));
    const during = batcher.stats();
    for (const res of together) assert.equal(res.status, 201, JSON.stringify(res.body));
    const calls = during.engineCalls - before.engineCalls;
    assert.ok(calls < requests.length, `${requests.length} requests took ${calls} engine calls`);
    assert.ok(during.maxRequestsPerCall >= 2);

    for (const [i, r] of requests.entries()) {
      const alone = await generate(r.apiKey, r.body);
      assert.equal(alone.status, 201);
      assert.deepEqual(
        alone.body.images.map((image: { data: string }) => image.data),
        together[i].body.images.map((image: { data: string }) => image.data),
        `request ${i}: same PNG bytes alone and batched`,
      );
    }
    // The adapters did change the images.
    const plain = await generate(key, { ...requests[0].body, adapters: [] });
    assert.notEqual(plain.body.images[0].data, together[0].body.images[0].data);
  });

  it('keeps parsed adapters cached by id', async () => {
    const inference = t.app.get(InferenceService);
    const before = await inference.stats();
    assert.equal((await generate(key, { prompt: 'red heart', steps: 1, adapters: [{ id: adapterIds[1] }] })).status, 201);
    const after = await inference.stats();
    assert.equal(after.hits - before.hits, 1, 'the adapter was parsed earlier: a cache hit');
    assert.equal(after.misses, before.misses);
    assert.equal(after.pinned, 0, 'released after the generation');
  });

  it('rejects bad input with 400 naming the field', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{}, /prompt/],
      [{ prompt: '' }, /prompt should not be empty/],
      [{ prompt: '   ' }, /prompt should not be empty/],
      [{ prompt: 'x'.repeat(501) }, /prompt must be shorter than or equal to 500 characters/],
      [{ prompt: 'x', steps: 0 }, /steps must not be less than 1/],
      [{ prompt: 'x', steps: 51 }, /steps must not be greater than 50/],
      [{ prompt: 'x', steps: 2.5 }, /steps must be an integer/],
      [{ prompt: 'x', steps: '20' }, /steps must be an integer/],
      [{ prompt: 'x', seed: -1 }, /seed must not be less than 0/],
      [{ prompt: 'x', seed: 2 ** 31 }, /seed must not be greater than 2147483647/],
      [{ prompt: 'x', guidanceScale: 21 }, /guidanceScale must not be greater than 20/],
      [{ prompt: 'x', numImages: 9 }, /numImages must not be greater than 8/],
      [{ prompt: 'x', scheduler: 'heun' }, /scheduler must be one of: dpmpp-2m, ddim, ddpm, euler, euler-ancestral, pndm/],
      [{ prompt: 'x', adapters: [{ id: 'nope' }] }, /adapters\.0\.id must be a UUID/],
      [{ prompt: 'x', adapters: [{ id: adapterIds[0], scale: 3 }] }, /adapters\.0\.scale must not be greater than 2/],
      [{ prompt: 'x', adapters: [{ id: adapterIds[0], extra: 1 }] }, /property adapters\.0\.extra should not exist/],
      [{ prompt: 'x', adapters: Array.from({ length: 5 }, () => ({ id: adapterIds[0] })) }, /adapters must contain no more than 4 elements/],
      [{ prompt: 'x', adapters: 'all' }, /adapters must be an array/],
      [{ prompt: 'x', colour: 'red' }, /property colour should not exist/],
      [{ prompt: 'x', baseModel: '../etc' }, /baseModel must be a model id/],
      [{ prompt: 'x', baseModel: 'not-installed' }, /baseModel "not-installed" is not installed/],
    ];
    for (const [body, message] of cases) {
      const res = await generate(key, body);
      assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 80)} → ${res.status} ${JSON.stringify(res.body)}`);
      assert.match(res.body.message, message, JSON.stringify(body).slice(0, 80));
    }
    // JSON has no NaN, but 1e999 parses as Infinity.
    for (const raw of ['{"prompt":"x","guidanceScale":1e999}', '{"prompt":"x","adapters":[{"id":"' + adapterIds[0] + '","scale":-1e999}]}']) {
      const res = await t.http().post('/v1/generations').set(...bearer(key)).set('Content-Type', 'application/json').send(raw);
      assert.equal(res.status, 400, raw);
      assert.match(res.body.message, /(guidanceScale|adapters\.0\.scale) must be a finite number/);
    }
    const badIndex = await t.http().get(`/v1/generations/${randomUUID()}/images/abc`).set(...bearer(key));
    assert.equal(badIndex.status, 400);
    assert.match(badIndex.body.message, /index must be an integer/);
  });

  it('answers 404 for adapters, generations and images of other tenants', async () => {
    const foreignAdapter = await generate(key, { prompt: 'x', steps: 1, adapters: [{ id: adapterIds[0] }, { id: otherAdapterId }] });
    assert.equal(foreignAdapter.status, 404);
    assert.match(foreignAdapter.body.message, /adapters\.1\.id: adapter .* not found/);

    const mine = await generate(key, { prompt: 'x', steps: 1 });
    const id = mine.body.id;
    for (const path of [`/v1/generations/${id}`, `/v1/generations/${id}/images/0`, `/v1/generations/${randomUUID()}`]) {
      assert.equal((await t.http().get(path).set(...bearer(otherKey))).status, 404, path);
    }
    assert.equal((await t.http().get(`/v1/generations/${id}/images/1`).set(...bearer(key))).status, 404, 'index past the last image');
    assert.equal((await t.http().get(`/v1/generations/${id}/images/0?upscale=17`).set(...bearer(key))).status, 400);
    assert.deepEqual((await t.http().get('/v1/generations').set(...bearer(otherKey))).body.data.filter((g: { id: string }) => g.id === id), []);
  });

  it('lists the prompt words the model does not know, on creation and later', async () => {
    const known = await generate(key, { prompt: 'red heart, noto style', steps: 1 });
    assert.equal(known.status, 201, JSON.stringify(known.body));
    assert.deepEqual(known.body.unknownWords, []);
    const res = await generate(key, { prompt: 'Red heart with pastel HILLS, hills', negativePrompt: 'blurry sun', steps: 1 });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(res.body.unknownWords, ['with', 'pastel', 'hills', 'blurry']);
    const detail = await t.http().get(`/v1/generations/${res.body.id}`).set(...bearer(key));
    assert.deepEqual(detail.body.unknownWords, res.body.unknownWords);
    const list = await t.http().get('/v1/generations?limit=1').set(...bearer(key));
    assert.deepEqual(list.body.data[0].unknownWords, res.body.unknownWords);
  });

  it("applies each adapter at its recommendedScale when the request names no scale", async () => {
    await sql(t.app.get(DataSource), 'UPDATE adapters SET recommended_scale = 0.5 WHERE id = ?', [adapterIds[1]]);
    const res = await generate(key, { prompt: 'sun', steps: 1, seed: 3, adapters: [{ id: adapterIds[0] }, { id: adapterIds[1] }, { id: adapterIds[2], scale: 2 }] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(res.body.adapters.map((a: { scale: number }) => a.scale), [1, 0.5, 2]);
    // The same images as asking for 0.5 explicitly.
    const explicit = await generate(key, { prompt: 'sun', steps: 1, seed: 3, adapters: [{ id: adapterIds[0], scale: 1 }, { id: adapterIds[1], scale: 0.5 }, { id: adapterIds[2], scale: 2 }] });
    assert.equal(explicit.status, 201);
    assert.equal(explicit.body.images[0].data, res.body.images[0].data);
  });

  it('refuses with 422 an adapter made for another base model, naming the adapter and both models', async () => {
    const other = await t.http().post('/v1/adapters').set(...bearer(key)).field('name', 'other-style').field('baseModel', 'other-base').attach('file', tinyLora(4).file, 'o.safetensors');
    assert.equal(other.status, 201, JSON.stringify(other.body));
    for (const body of [{ prompt: 'sun', steps: 1, adapters: [{ id: adapterIds[0] }, { id: other.body.id }] }, { prompt: 'sun', steps: 1, baseModel: 'emoji-base', adapters: [{ id: adapterIds[0] }, { id: other.body.id }] }]) {
      const res = await generate(key, body);
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(res.body.message.startsWith(`adapters.1.id: adapter ${other.body.id} was trained for base model other-base, not emoji-base`), true, res.body.message);
    }
    const onItsModel = await generate(key, { prompt: 'sun', steps: 1, baseModel: 'other-base', adapters: [{ id: other.body.id }] });
    assert.equal(onItsModel.status, 201, JSON.stringify(onItsModel.body));
    assert.equal(onItsModel.body.model, 'other-base');
    assert.equal((await t.app.get(InferenceService).stats()).pinned, 0);
  });

  it('makes images of the requested width and height, and refuses sizes the model cannot make with 400 naming the field and the allowed values', async () => {
    const res = await generate(key, { prompt: 'sun', steps: 2, seed: 4, width: 24, height: 16 });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual([res.body.width, res.body.height, res.body.images[0].width, res.body.images[0].height], [24, 16, 24, 16]);
    const meta = await sharp(Buffer.from(res.body.images[0].data, 'base64')).metadata();
    assert.deepEqual([meta.width, meta.height], [24, 16]);
    const stored = await t.http().get(`/v1/generations/${res.body.id}/images/0?upscale=2`).set(...bearer(key)).buffer(true).parse(binaryParser);
    assert.deepEqual([(await sharp(stored.body).metadata()).width, (await sharp(stored.body).metadata()).height], [48, 32]);
    const native = await generate(key, { prompt: 'sun', steps: 1 });
    assert.deepEqual([native.body.width, native.body.height], [16, 16], "the model's native size by default");

    // The tiny model: 16 px over 2×2 patches and two UNet levels, so multiples of 4, at most 4 × 16.
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ width: 18 }, /^width must be a multiple of 4 from 4 to 64 for this model \(native 16\), got 18$/],
      [{ height: 68 }, /^height must be a multiple of 4 from 4 to 64 for this model \(native 16\), got 68$/],
      [{ width: 0 }, /^width must be a multiple of 4 from 4 to 64/],
      [{ width: 16.5 }, /^width must be an integer/],
      [{ height: '16' }, /^height must be an integer/],
    ];
    for (const [size, message] of cases) {
      const bad = await generate(key, { prompt: 'sun', steps: 1, ...size });
      assert.equal(bad.status, 400, JSON.stringify(size));
      assert.match(bad.body.message, message, JSON.stringify(size));
    }
  });

  it('refuses with 400 a size whose estimated activations exceed GENERATION_MEMORY_BUDGET_MB, before anything runs', async () => {
    const { estimateActivationBytes, readModelGeometry } = await import('../../src/engine');
    const geometry = await readModelGeometry(join(modelsDir, 'emoji-base'));
    const memoryBudgetBytes = estimateActivationBytes(geometry, { width: 32, height: 32 }, { images: 2, guided: true }).peakBytes;
    const small = await startTestApp({ modelsDir, generation: { memoryBudgetBytes } });
    try {
      const smallKey = (await createTenant(small)).apiKey;
      const post = (body: Record<string, unknown>) => small.http().post('/v1/generations').set(...bearer(smallKey)).send(body);
      assert.equal((await post({ prompt: 'sun', steps: 1, width: 32, height: 32, numImages: 2 })).status, 201);
      const over = await post({ prompt: 'sun', steps: 1, width: 48, height: 32, numImages: 2 });
      assert.equal(over.status, 400, JSON.stringify(over.body));
      assert.match(over.body.message, /^width 48 is too large: 48×32 for 2 image\(s\) with guidance needs an estimated \d+ MiB of activations, over the budget of \d+ MiB \(GENERATION_MEMORY_BUDGET_MB\); with height 32, width must be a multiple of 4 from 4 to (32|36|40|44)$/);
      const tall = await post({ prompt: 'sun', steps: 1, width: 32, height: 48, numImages: 2 });
      assert.equal(tall.status, 400);
      assert.match(tall.body.message, /^height 48 is too large: 32×48 /);
      // Without guidance the same size needs half the UNet rows.
      assert.equal((await post({ prompt: 'sun', steps: 1, width: 48, height: 32, numImages: 2, guidanceScale: 1 })).status, 201);
      assert.equal((await small.http().get('/v1/generations').set(...bearer(smallKey))).body.data.length, 2, 'nothing stored for refused requests');
    } finally {
      await small.close();
    }
  });

  it('refuses with 422 an adapter whose layers do not fit the base model', async () => {
    const wrongShape = await t.http().post('/v1/adapters').set(...bearer(key)).field('name', 'for-another-model').attach('file', (await import('../support/safetensors')).peftLora(4, { alpha: '4' }), 'x.safetensors');
    const res = await generate(key, { prompt: 'x', steps: 1, adapters: [{ id: wrongShape.body.id }] });
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.match(res.body.message, /^adapters\.0\.id: adapter .* does not fit base model emoji-base/);
    const stats = await t.app.get(InferenceService).stats();
    assert.equal(stats.pinned, 0);
  });
});
