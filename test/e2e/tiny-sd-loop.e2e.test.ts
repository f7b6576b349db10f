import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSaasClient, multipart, SaasClient } from '../../clients/typescript';
import { createLoraAdapter, readLoraModuleShapes, serializeLoraAdapter } from '../../src/engine';
import { png } from '../support/images';
import { startServerProcess, ServerProcess } from '../support/server-process';
import { readSse } from '../support/sse';
import { BUNDLED_MODEL_DIR as BUNDLED, TINY_SD_DIR as FIXTURE } from '../support/tiny-sd';
const TINY_DRO = { steps: 3, batchSize: 2, samplingSteps: 2, bufferBatch: 2 };

/** Width and height from a PNG's IHDR chunk (bytes 16–23, big-endian), after checking the signature. */
function pngSize(bytes: Buffer): { width: number; height: number } {
  assert.ok(bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'PNG signature');
  assert.equal(bytes.subarray(12, 16).toString('latin1'), 'IHDR');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

describe('a latent model through the API: the tiny SD-1.5-shaped fixture next to the bundled pixel model', () => {
  let root: string;
  let server: ServerProcess;
  let api: SaasClient;
  let apiKey: string;
  let adapterId: string;

  before(async () => {
    assert.ok(existsSync(join(FIXTURE, 'model_index.json')), `the tiny-sd fixture is missing at ${FIXTURE}`);
    root = mkdtempSync(join(tmpdir(), 'saas-tiny-sd-'));
    const modelsDir = join(root, 'models');
    mkdirSync(modelsDir);
    // Both models linked in as they are: the fixture is read-only test data.
    symlinkSync(BUNDLED, join(modelsDir, 'emoji-base'));
    symlinkSync(FIXTURE, join(modelsDir, 'tiny-sd'));
    const env = { DATA_DIR: join(root, 'data'), MODELS_DIR: modelsDir };
    server = await startServerProcess(env);
    const admin = createSaasClient({ baseUrl: server.baseUrl, apiKey: readFileSync(join(env.DATA_DIR, 'admin-token'), 'utf8').trim() });
    apiKey = (await admin.POST('/v1/tenants', { body: { name: 'Acme' } })).data!.apiKey;
    api = createSaasClient({ baseUrl: server.baseUrl, apiKey });
  });

  after(async () => {
    await server?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('lists the fixture as a latent model with its sizes, components and dtypes beside the bundled pixel model', async () => {
    const res = await api.GET('/v1/models');
    assert.equal(res.response.status, 200);
    const [bundled, sd] = res.data!.data;
    assert.deepEqual([bundled.id, sd.id], ['emoji-base', 'tiny-sd']);
    assert.deepEqual([sd.space, sd.width, sd.height, sd.vaeScaleFactor, sd.latentChannels, sd.dtype], ['latent', 16, 16, 2, 4, 'mixed']);
    assert.deepEqual([sd.components.unet?.dtype, sd.components.textEncoder?.dtype, sd.components.vae?.dtype], ['fp16', 'fp32', 'fp16']);
    assert.deepEqual([bundled.space, bundled.width, bundled.patchSize, bundled.vaeScaleFactor, bundled.components.vae, bundled.dtype], ['pixel', 32, 2, null, null, 'fp16']);
  });

  it('uploads 16×16 images and trains a DRO adapter on the latent model', async () => {
    const dataset = await api.POST('/v1/datasets', { body: { name: 'Acme' } });
    const datasetId = dataset.data!.id;
    const parts: Parameters<typeof multipart>[0] = [];
    for (let i = 0; i < 4; i++) parts.push(['images', await png(16, 16, { r: 40 + 50 * i, g: 120, b: 200 }, i), `board-${i}.png`, 'image/png']);
    parts.push(['captions', JSON.stringify(['a red fox', 'a blue house', 'a tree', 'a cup of tea'])]);
    const upload = await api.POST('/v1/datasets/{id}/images', { params: { path: { id: datasetId } }, ...multipart(parts) });
    assert.equal(upload.data?.added.length, 4, JSON.stringify(upload.error ?? upload.data?.rejected));

    const created = await api.POST('/v1/fine-tunes', { body: { datasetId, method: 'dro', baseModel: 'tiny-sd', stylePhrase: 'acme style', hyperparameters: TINY_DRO } });
    assert.equal(created.response.status, 201, JSON.stringify(created.error));
    const events = await readSse(`${server.baseUrl}/v1/fine-tunes/${created.data!.id}/events`, apiKey, { timeoutMs: 80_000 });
    const done = events.events.at(-1)!;
    assert.equal(done.event, 'done');
    assert.equal(done.data.status, 'succeeded', `${JSON.stringify(done.data.error)}\n${server.output().slice(-3000)}`);
    adapterId = done.data.adapterId;
    const adapter = await api.GET('/v1/adapters/{id}', { params: { path: { id: adapterId } } });
    assert.equal(adapter.data!.baseModel, 'tiny-sd');

    // The preview's tiles are decoded 16 px images: 4 prompts × (2 seeds, a gap, 2 seeds), 1 px borders, enlarged 6×.
    assert.equal(done.data.preview?.status, 'available', JSON.stringify(done.data.preview));
    const preview = await api.GET('/v1/fine-tunes/{id}/preview', { params: { path: { id: created.data!.id } }, parseAs: 'arrayBuffer' });
    assert.deepEqual(pngSize(Buffer.from(preview.data as ArrayBuffer)), { width: (5 * 16 + 6) * 6, height: (4 * 16 + 5) * 6 });
  });

  it('generates with the adapter: PNGs of the native 16×16 and of a requested 24×16', async () => {
    for (const [size, expected] of [[{}, { width: 16, height: 16 }], [{ width: 24, height: 16 }, { width: 24, height: 16 }]] as const) {
      const res = await api.POST('/v1/generations', { body: { prompt: 'a red fox, acme style', seed: 7, steps: 4, baseModel: 'tiny-sd', adapters: [{ id: adapterId }], ...size } });
      assert.equal(res.response.status, 201, JSON.stringify(res.error));
      assert.deepEqual([res.data!.model, res.data!.width, res.data!.height], ['tiny-sd', expected.width, expected.height]);
      assert.deepEqual(pngSize(Buffer.from(res.data!.images[0].data!, 'base64')), expected);
    }
    const tooLarge = await api.POST('/v1/generations', { body: { prompt: 'a tree', baseModel: 'tiny-sd', width: 68 } });
    assert.equal(tooLarge.response.status, 400);
    assert.match(tooLarge.error!.message, /^width must be a multiple of 4 from 4 to 64/);
  });

  it('refuses an adapter across pixel and latent models with 422 naming the adapter and both models', async () => {
    const onBundled = await api.POST('/v1/generations', { body: { prompt: 'sun', steps: 1, adapters: [{ id: adapterId }] } });
    assert.equal(onBundled.response.status, 422);
    assert.match(onBundled.error!.message, new RegExp(`^adapters\\.0\\.id: adapter ${adapterId} was trained for base model tiny-sd, not emoji-base`));

    // And the other way: an adapter made for the bundled model's layers, imported for it.
    const shapes = await readLoraModuleShapes(BUNDLED);
    const file = serializeLoraAdapter(createLoraAdapter(shapes, { rank: 2, seed: 1 }));
    const imported = await api.POST('/v1/adapters', { ...multipart([['name', 'emoji style'], ['baseModel', 'emoji-base'], ['file', file, 'emoji.safetensors', 'application/octet-stream']]) });
    assert.equal(imported.response.status, 201, JSON.stringify(imported.error));
    const onFixture = await api.POST('/v1/generations', { body: { prompt: 'a tree', steps: 1, baseModel: 'tiny-sd', adapters: [{ id: imported.data!.id }] } });
    assert.equal(onFixture.response.status, 422);
    assert.match(onFixture.error!.message, new RegExp(`^adapters\\.0\\.id: adapter ${imported.data!.id} was trained for base model emoji-base, not tiny-sd`));
  });
});
