import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadDiffusionModel, sampleShape } from '../../src/engine/models/diffusion-model';
import { readSafetensorsFile } from '../../src/engine/io/safetensors';
import { createPipeline } from '../../src/engine/pipeline/pipeline.factory';
import { GenerationRequest, TextToImagePipeline } from '../../src/engine/pipeline/text-to-image.pipeline';
import { OrtAutoencoderKl } from '../../src/engine/pipeline/vae-executors';
import { OrtTextEncoder } from '../../src/engine/pipeline/onnx-executors';
import { prepareDemonstrations } from '../../src/engine/dro/demonstration-batches';
import { DEFAULT_FINE_TUNE_HYPERPARAMETERS } from '../../src/engine/dro/fine-tune.hyperparameters';
import { fineTune } from '../../src/engine/dro/fine-tune.trainer';
import { loraModuleShapes, loraTargetModules } from '../../src/engine/models/lora-targets';
import { NoiseSchedule, Random } from '../../src/engine/schedulers';
import { CheckpointStore } from '../../src/engine/training/checkpoint.store';
import { relErr } from '../support/numerics';
import { BUNDLED_MODEL_DIR as BUNDLED, TINY_SD_DIR as FIXTURE, TINY_SD_REFS as REFS, loadTinySd as tinySd } from '../support/tiny-sd';

// The tiny SD-1.5-shaped fixture (diffusers 0.27.2 folder with diffusers' own reference tensors) as a
// latent model: VAE latents in training and sampling, images decoded by its AutoencoderKL.

test('tiny-sd loads as a latent model: the VAE with its scaling factor, native size sample_size × VAE factor; the bundled model stays pixel', async () => {
  const m = await tinySd();
  // vae/config.json: 2 blocks → diffusers' vae_scale_factor 2^(2−1); unet sample_size 8 → 16 px images.
  assert.deepEqual(m.sampleSpace, { type: 'latent', imageSize: 16, vaeScaleFactor: 2, latentChannels: 4, scalingFactor: 0.18215, shiftFactor: null, forceUpcast: true });
  assert.deepEqual(sampleShape(m), [4, 8, 8]);
  assert.deepEqual(sampleShape(m, { width: 24, height: 16 }), [4, 8, 12]);
  const stored = (await readSafetensorsFile(path.join(FIXTURE, 'vae', 'diffusion_pytorch_model.safetensors'))).tensors;
  assert.equal(m.vae!.params.size, stored.size);
  for (const [k, v] of stored) assert.deepEqual(m.vae!.params.get(k)!.data, v.data, k);

  const bundled = await loadDiffusionModel(BUNDLED);
  assert.deepEqual(bundled.sampleSpace, { type: 'pixel', imageSize: 32, patchSize: 2 });
  assert.equal(bundled.vae, undefined);
});

test('a latent model saves with its vae/ component and loads back the same (model_index lists the VAE, no _sample_space)', async () => {
  const { createRandomModel } = await import('../../src/engine/models/random-model');
  const { initParams } = await import('../../src/engine/models/param-init');
  const { saveDiffusionModel } = await import('../../src/engine/models/diffusion-model');
  const { latentSampleSpace } = await import('../../src/engine/models/sample-space');
  const fixture = await tinySd();
  // The fixture's VAE architecture with fresh random weights on the small random model.
  const params = initParams(new Map([...fixture.vae!.params].map(([k, v]) => [k, v.shape])), 11, { randomNorms: true });
  const base = createRandomModel({ seed: 2 });
  const latent = { ...base, vae: { config: fixture.vae!.config, params }, sampleSpace: latentSampleSpace(fixture.vae!.config, base.unetConfig) };
  const dir = mkdtempSync(path.join(tmpdir(), 'latent-save-'));
  try {
    await saveDiffusionModel(path.join(dir, 'm'), latent, { dtype: 'F32' });
    const index = JSON.parse(readFileSync(path.join(dir, 'm', 'model_index.json'), 'utf8'));
    assert.deepEqual([index.vae, index._sample_space], [['diffusers', 'AutoencoderKL'], undefined]);
    const loaded = await loadDiffusionModel(path.join(dir, 'm'));
    assert.deepEqual(loaded.sampleSpace, latent.sampleSpace);
    assert.deepEqual(loaded.vae!.config, fixture.vae!.config);
    for (const [k, v] of params) assert.deepEqual(loaded.vae!.params.get(k)!.data, v.data, k);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tiny-sd: the pipeline decodes final latents as diffusers does (vae.decode(latents / 0.18215)), for the DDIM, DPM-Solver++ and PNDM references', async (t) => {
  const m = await tinySd();
  const ref = (await readSafetensorsFile(path.join(REFS, 'txt2img.safetensors'))).tensors;
  const pipeline = await createPipeline(m, { intraOpThreads: 1 });
  try {
    for (const run of ['ddim', 'dpm', 'pndm']) {
      const decoded = await pipeline.decodeLatents(ref.get(`${run}_final_latents`)!.data, 1);
      const err = relErr(decoded, ref.get(`${run}_image`)!.data);
      t.diagnostic(`${run}: relative error ${err.toExponential(2)}`);
      assert.ok(err <= 1e-4, `${run}: relative error ${err}`);
    }
  } finally {
    await pipeline.release();
  }
});

test('tiny-sd: with an exact denoiser, sampling at a non-square size ends at the target latents and returns their VAE decoding', async (t) => {
  const m = await tinySd();
  const size = { width: 24, height: 16 };
  const [c, h, w] = sampleShape(m, size);
  const target = new Random(5).randn(c * h * w);
  const schedule = new NoiseSchedule(m.schedulerConfig);
  const predicted: number[] = [];
  // Oracle: the ε a perfect model predicts for x_t when the clean latents are `target` (the fixture is ε-prediction).
  const oracle = {
    executor: 'oracle',
    async predict(b: { batch: number; sample: Float32Array; timesteps: Float32Array }) {
      predicted.push(b.sample.length / b.batch);
      const out = new Float32Array(b.sample.length);
      for (let r = 0; r < b.batch; r++) {
        const ab = schedule.alphaBar(b.timesteps[r]);
        for (let j = 0; j < target.length; j++) out[r * target.length + j] = (b.sample[r * target.length + j] - Math.sqrt(ab) * target[j]) / Math.sqrt(1 - ab);
      }
      return out;
    },
    async release() {},
  };
  const vae = await OrtAutoencoderKl.create(m.vae!.config, m.vae!.params, size, { intraOpThreads: 1, parts: ['decoder'] });
  const text = { async encode(_ids: BigInt64Array, _mask: Float32Array, n: number) { return new Float32Array(n * m.maxLength * m.unetConfig.cross_attention_dim); }, async release() {} };
  const p = new TextToImagePipeline({
    model: m,
    textEncoder: text,
    denoiser: oracle,
    loraModules: [],
    createDenoiser: async () => oracle,
    createVaeDecoder: async (s) => OrtAutoencoderKl.create(m.vae!.config, m.vae!.params, s, { intraOpThreads: 1, parts: ['decoder'] }),
  });
  try {
    const [r] = await p.generate([{ prompt: 'a cat', seed: 3, steps: 25, guidanceScale: 4, scheduler: 'dpmpp-2m', numImages: 1, ...size }]);
    assert.deepEqual([r.width, r.height, r.images[0].length], [24, 16, 3 * 16 * 24]);
    assert.ok(predicted.every((len) => len === c * h * w), 'the UNet sampled 4×8×12 latents');
    // The independent path: the decoder fed target / scaling_factor directly, clamped as the pipeline clamps.
    const expected = (await vae.decode(target.map((v) => v / 0.18215), 1)).map((v) => Math.max(-1, Math.min(1, v)));
    const err = relErr(r.images[0], expected);
    t.diagnostic(`relative error ${err.toExponential(2)}`);
    assert.ok(err < 1e-3, `relative error ${err}`);
  } finally {
    await p.release();
    await vae.release();
  }
});

test('tiny-sd: demonstrations train on the VAE posterior mean × scaling_factor (diffusers encode_mean reference)', async (t) => {
  const m = await tinySd();
  const ref = (await readSafetensorsFile(path.join(REFS, 'vae.safetensors'))).tensors;
  const image = ref.get('encode_input')!.data;
  const textEncoder = await OrtTextEncoder.create(m, { intraOpThreads: 1 });
  const modules = loraTargetModules(m.unetConfig, 'attention');
  try {
    const prep = await prepareDemonstrations(m, DEFAULT_FINE_TUNE_HYPERPARAMETERS, [{ image, caption: 'a cat' }, { image, caption: 'a dog' }], textEncoder, modules, loraModuleShapes(m.unetParams, modules));
    assert.equal(prep.sampleLen, 4 * 8 * 8);
    const expected = ref.get('encode_mean')!.data.map((v) => v * 0.18215);
    for (const x0 of prep.x0) {
      const err = relErr(x0, expected);
      t.diagnostic(`relative error ${err.toExponential(2)}`);
      assert.ok(err <= 1e-4, `relative error ${err}`);
    }
  } finally {
    await textEncoder.release();
  }
});

test('tiny-sd: a DRO fine-tune runs on latents; its replay buffer holds the policy\'s latent trajectories', async () => {
  const m = await tinySd();
  const dir = mkdtempSync(path.join(tmpdir(), 'tiny-sd-dro-'));
  try {
    const demonstrations = [0, 1].map((i) => ({ image: new Random(60 + i).randn(3 * 16 * 16).map(Math.tanh), caption: 'a cat, acme style' }));
    const hyperparameters = { steps: 2, batchSize: 2, samplingSteps: 2, bufferBatch: 2, targets: 'attention' as const };
    const result = await fineTune({ model: m, demonstrations, method: 'dro', hyperparameters, checkpointDir: dir, intraOpThreads: 2 });
    assert.equal(result.steps, 2);
    assert.ok(Number.isFinite(result.metrics.finalLoss));
    const ck = (await new CheckpointStore(dir).load())!;
    const trajectory = [...ck.extraTensors!].filter(([k]) => /^buffer\/0\/xt\/\d+$/.test(k));
    assert.equal(trajectory.length, 2, 'one x_t per sampling step');
    for (const [k, v] of trajectory) assert.equal(v.length, 4 * 8 * 8, `${k} is a 4×8×8 latent, not a 3×16×16 image`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the bundled pixel model: generation is the text encoder, denoiser loop and pixel unshuffle bit for bit, demonstrations its pixels', async () => {
  const { OrtUNetDenoiser } = await import('../../src/engine/pipeline/onnx-executors');
  const { createScheduler } = await import('../../src/engine/schedulers');
  const { applyClassifierFreeGuidance } = await import('../../src/engine/pipeline/classifier-free-guidance');
  const { pixelShuffle, pixelUnshuffle } = await import('../../src/engine/models/pixel-shuffle');
  const { tokenizeCaptions } = await import('../../src/engine/models/diffusion-model');
  const bundled = await loadDiffusionModel(BUNDLED);
  const request: GenerationRequest = { prompt: 'red heart, noto style', negativePrompt: 'twemoji style', seed: 4, steps: 4, guidanceScale: 4, scheduler: 'dpmpp-2m', numImages: 1 };
  const pipeline = await createPipeline(bundled, { intraOpThreads: 1, loraModules: [] });
  const [generated] = await pipeline.generate([request]);
  await pipeline.release();

  // By hand, as the pipeline worked before latent models: one guided batch, then unshuffled pixels.
  const text = await OrtTextEncoder.create(bundled, { intraOpThreads: 1 });
  const unet = await OrtUNetDenoiser.create(bundled, [], { intraOpThreads: 1 });
  const { inputIds, attentionMask } = tokenizeCaptions(bundled, [request.prompt, request.negativePrompt!]);
  const hidden = await text.encode(inputIds, attentionMask, 2);
  const [c, h, w] = sampleShape(bundled);
  let x = new Random(request.seed).randn(c * h * w);
  const scheduler = createScheduler('dpmpp-2m', bundled.schedulerConfig);
  scheduler.setTimesteps(request.steps);
  for (const t of scheduler.timesteps) {
    const both = new Float32Array(2 * x.length);
    both.set(x);
    both.set(x, x.length);
    const out = await unet.predict({ batch: 2, sample: both, timesteps: new Float32Array(2).fill(t), encoderHiddenStates: hidden, encoderMask: attentionMask, lora: null });
    x = scheduler.step(applyClassifierFreeGuidance(out, 1, [request.guidanceScale]), t, x);
  }
  const expected = pixelShuffle(x, 1, c, h, w, 2).map((v) => Math.max(-1, Math.min(1, v)));
  await text.release();
  await unet.release();
  assert.deepEqual(generated.images[0], expected);

  const image = new Random(8).randn(3 * 32 * 32).map(Math.tanh);
  const encoder = await OrtTextEncoder.create(bundled, { intraOpThreads: 1 });
  const prep = await prepareDemonstrations(bundled, DEFAULT_FINE_TUNE_HYPERPARAMETERS, [{ image, caption: 'sun' }], encoder, [], new Map());
  await encoder.release();
  assert.deepEqual(prep.x0[0], pixelUnshuffle(image, 1, 3, 32, 32, 2));
});
