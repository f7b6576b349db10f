import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeFakeModel } from '../support/fake-model';
import { writeTinyModel } from '../support/tiny-model';
import { readSafetensorsFile } from '../../src/engine/io/safetensors';
import { TINY_SD_DIR as FIXTURE } from '../support/tiny-sd';
import { bearer, createTenant, startTestApp, TestApp } from '../support/test-app';

/** The fields GET /v1/models derives from a folder's configs and weights. */
function pick(m: Record<string, unknown>): Record<string, unknown> {
  const keys = ['width', 'height', 'space', 'vaeScaleFactor', 'latentChannels', 'patchSize', 'sizes', 'components', 'parameters', 'dtype'];
  return Object.fromEntries(keys.map((k) => [k, m[k]]));
}

describe('base models', () => {
  let modelsDir: string;
  let t: TestApp;
  let key: string;

  before(async () => {
    modelsDir = mkdtempSync(join(tmpdir(), 'saas-models-'));
    writeFakeModel(modelsDir, 'tiny-pixel', { card: '# Tiny pixel model\n\nTrained on emoji.\n' });
    writeFakeModel(modelsDir, 'tiny-latent', { latent: true });
    writeFakeModel(modelsDir, 'tiny-patched', { patchSize: 2 });
    await writeTinyModel(modelsDir, 7, 'random-fp32');
    // The SD-1.5-shaped fixture, linked in as it is: fp16 UNet and VAE, fp32 text encoder.
    symlinkSync(FIXTURE, join(modelsDir, 'tiny-sd'));
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
    assert.deepEqual(res.body.data.map((m: { id: string }) => m.id), ['random-fp32', 'tiny-latent', 'tiny-patched', 'tiny-pixel', 'tiny-sd']);
    const [, latent, patched, pixel] = res.body.data;
    assert.equal(patched.resolution, 32, 'a 16×16 UNet over 2×2 pixel patches draws 32 px images');
    assert.equal(pixel.resolution, 32);
    assert.equal(latent.resolution, 64, 'sample_size 16 × VAE factor 4');
    assert.equal(pixel.unetClass, 'UNet2DConditionModel');
    assert.equal(pixel.modelIndex._class_name, 'StableDiffusionPipeline');
    assert.match(pixel.modelCard, /Tiny pixel model/);
    assert.equal(latent.modelCard, null);
    // Configs only: the space and sizes are known, the weights are not.
    assert.deepEqual(pick(latent), { width: 64, height: 64, space: 'latent', vaeScaleFactor: 4, latentChannels: 4, patchSize: null, sizes: { multiple: 32, maxWidth: 256, maxHeight: 256 }, components: { unet: null, textEncoder: null, vae: null }, parameters: null, dtype: null });
    assert.deepEqual(pick(patched).sizes, { multiple: 16, maxWidth: 128, maxHeight: 128 }, '2×2 patches × the default UNet\'s 3 upsamplers');
    assert.deepEqual([patched.space, patched.vaeScaleFactor, patched.patchSize, pixel.patchSize], ['pixel', null, 2, 1]);
  });

  it('reports parameters per component and the stored dtype, counted from the weights files', async () => {
    const res = await t.http().get('/v1/models').set(...bearer(key));
    const byId = new Map(res.body.data.map((m: { id: string }) => [m.id, m]));
    const count = async (file: string) => [...(await readSafetensorsFile(file)).tensors.values()].reduce((n, v) => n + v.data.length, 0);
    const sd = byId.get('tiny-sd') as Record<string, unknown>;
    const sdCounts = {
      unet: await count(join(FIXTURE, 'unet', 'diffusion_pytorch_model.safetensors')),
      textEncoder: await count(join(FIXTURE, 'text_encoder', 'model.safetensors')),
      vae: await count(join(FIXTURE, 'vae', 'diffusion_pytorch_model.safetensors')),
    };
    assert.deepEqual(pick(sd), {
      width: 16,
      height: 16,
      space: 'latent',
      vaeScaleFactor: 2,
      latentChannels: 4,
      patchSize: null,
      sizes: { multiple: 4, maxWidth: 64, maxHeight: 64 },
      components: { unet: { parameters: sdCounts.unet, dtype: 'fp16' }, textEncoder: { parameters: sdCounts.textEncoder, dtype: 'fp32' }, vae: { parameters: sdCounts.vae, dtype: 'fp16' } },
      parameters: sdCounts.unet + sdCounts.textEncoder + sdCounts.vae,
      dtype: 'mixed',
    });
    assert.equal(sd.resolution, 16);
    const random = byId.get('random-fp32') as Record<string, unknown>;
    const unet = await count(join(modelsDir, 'random-fp32', 'unet', 'diffusion_pytorch_model.safetensors'));
    assert.deepEqual([random.space, random.components, random.dtype], ['pixel', { unet: { parameters: unet, dtype: 'fp32' }, textEncoder: { parameters: await count(join(modelsDir, 'random-fp32', 'text_encoder', 'model.safetensors')), dtype: 'fp32' }, vae: null }, 'fp32']);
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
