import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeFakeModel } from '../support/fake-model';
import { bearer, createTenant, startTestApp, TestApp } from '../support/test-app';

describe('base models', () => {
  let modelsDir: string;
  let t: TestApp;
  let key: string;

  before(async () => {
    modelsDir = mkdtempSync(join(tmpdir(), 'saas-models-'));
    writeFakeModel(modelsDir, 'tiny-pixel', { card: '# Tiny pixel model\n\nTrained on emoji.\n' });
    writeFakeModel(modelsDir, 'tiny-latent', { latent: true });
    writeFakeModel(modelsDir, 'tiny-patched', { patchSize: 2 });
    mkdirSync(join(modelsDir, 'not-a-model'));
    writeFileSync(join(modelsDir, 'not-a-model', 'notes.txt'), 'no model_index.json here');
    writeFileSync(join(modelsDir, 'stray-file.json'), '{}');
    t = await startTestApp({ modelsDir });
    key = (await createTenant(t)).apiKey;
  });
  after(async () => {
    await t.close();
    rmSync(modelsDir, { recursive: true, force: true });
  });

  it('lists folders with a model_index.json, with their resolution and card', async () => {
    const res = await t.http().get('/v1/models').set(...bearer(key));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.data.map((m: { id: string }) => m.id), ['tiny-latent', 'tiny-patched', 'tiny-pixel']);
    const [latent, patched, pixel] = res.body.data;
    assert.equal(patched.resolution, 32, 'a 16×16 UNet over 2×2 pixel patches draws 32 px images');
    assert.equal(pixel.resolution, 32);
    assert.equal(latent.resolution, 64, 'sample_size 16 × VAE factor 4');
    assert.equal(pixel.unetClass, 'UNet2DConditionModel');
    assert.equal(pixel.modelIndex._class_name, 'StableDiffusionPipeline');
    assert.match(pixel.modelCard, /Tiny pixel model/);
    assert.equal(latent.modelCard, null);
  });

  it('gets one model and answers unknown ids with 404', async () => {
    const res = await t.http().get('/v1/models/tiny-pixel').set(...bearer(key));
    assert.equal(res.status, 200);
    assert.equal(res.body.id, 'tiny-pixel');
    assert.equal((await t.http().get('/v1/models/not-a-model').set(...bearer(key))).status, 404);
    assert.equal((await t.http().get('/v1/models/..').set(...bearer(key))).status, 404);
    assert.equal((await t.http().get('/v1/models/%2E%2E%2Fetc').set(...bearer(key))).status, 404);
  });

  it('is empty when MODELS_DIR does not exist', async () => {
    const empty = await startTestApp({ modelsDir: join(modelsDir, 'missing') });
    try {
      const emptyKey = (await createTenant(empty)).apiKey;
      const res = await empty.http().get('/v1/models').set(...bearer(emptyKey));
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { data: [] });
    } finally {
      await empty.close();
    }
  });
});

describe('health', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(() => t.close());

  it('answers without credentials', async () => {
    const started = Date.now();
    const res = await t.http().get('/health');
    assert.ok(Date.now() - started < 1000);
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'ok');
    assert.equal(res.body.db, 'ok');
    assert.equal(typeof res.body.uptimeS, 'number');
    assert.ok(res.body.uptimeS >= 0);
  });
});
