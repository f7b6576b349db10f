import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fsp from 'fs/promises';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import sharp from 'sharp';
import { createRandomModel } from '../../src/engine/models/random-model';
import { createPipeline } from '../../src/engine/pipeline/pipeline.factory';
import { GenerationRequest, TextToImagePipeline } from '../../src/engine/pipeline/text-to-image.pipeline';
import { OrtUNetDenoiser } from '../../src/engine/pipeline/onnx-executors';
import { loraModuleShapes, loraTargetModules } from '../../src/engine/models/lora-targets';
import { createLoraAdapter, LoraAdapter, type ModuleShape } from '../../src/engine/lora/lora-adapter';
import { writeLoraFile } from '../../src/engine/lora/lora-file.writer';
import { loadDiffusionModel, saveDiffusionModel } from '../../src/engine/models/diffusion-model';
import { Random } from '../../src/engine/schedulers';
import { patchSizeOf } from '../../src/engine/models/sample-space';
import { relErr } from '../support/numerics';

const model = createRandomModel({ seed: 3 });


function req(over: Partial<GenerationRequest> = {}): GenerationRequest {
  return { prompt: 'red heart noto style', seed: 5, steps: 4, guidanceScale: 3, scheduler: 'dpmpp-2m', numImages: 1, ...over };
}

function randomAdapter(shapes: Map<string, ModuleShape>, rank: number, seed: number): LoraAdapter {
  const a = createLoraAdapter(shapes, { rank, alpha: rank, seed });
  const rng = new Random(seed + 1);
  for (const layer of a.layers.values()) for (let k = 0; k < layer.b.length; k++) layer.b[k] = rng.normal() * 0.2;
  return a;
}

test('ONNX Runtime and tfjs pipelines produce the same images', async () => {
  const ort = await createPipeline(model, { intraOpThreads: 1 });
  const tfjs = await createPipeline(model, { engine: 'tfjs' });
  const adapter = randomAdapter(ort.moduleShapes, 2, 9);
  for (const r of [req(), req({ scheduler: 'ddim', adapters: [{ adapter, scale: 0.7 }], negativePrompt: 'sun' })]) {
    const [a] = await ort.generate([r]);
    const [b] = await tfjs.generate([r]);
    assert.ok(relErr(a.images[0], b.images[0]) < 1e-3, `relative error ${relErr(a.images[0], b.images[0])}`);
  }
  await ort.release();
  await tfjs.release();
});

test('results depend only on the request: same seed, same image, whatever else is batched', async () => {
  const p = await createPipeline(model, { intraOpThreads: 1 });
  const adapter = randomAdapter(p.moduleShapes, 3, 1);
  const alone = (await p.generate([req()]))[0].images[0];
  const again = (await p.generate([req()]))[0].images[0];
  assert.deepEqual(again, alone);
  const batched = await p.generate([
    req({ prompt: 'cat face twemoji style', seed: 9, numImages: 2, adapters: [{ adapter, scale: 1 }] }),
    req(),
    req({ guidanceScale: 1, seed: 11 }),
  ]);
  assert.equal(batched[0].images.length, 2);
  assert.ok(relErr(batched[1].images[0], alone) < 1e-5, 'same image when batched with other adapters and guidance scales');
  // Stochastic sampling too: DDPM step noise comes from each request's own seed.
  const ddpm = req({ scheduler: 'ddpm', seed: 21 });
  const ddpmAlone = (await p.generate([ddpm]))[0].images[0];
  const ddpmBatched = await p.generate([req({ scheduler: 'ddpm', seed: 3, numImages: 2 }), ddpm]);
  assert.ok(relErr(ddpmBatched[1].images[0], ddpmAlone) < 1e-5, 'DDPM result independent of batching');
  const otherSeed = (await p.generate([req({ seed: 6 })]))[0].images[0];
  assert.ok(relErr(otherSeed, alone) > 1e-2);
  await p.release();
});

test('each result lists the words of its prompt and negative prompt that the model cannot read', async () => {
  const p = await createPipeline(model, { intraOpThreads: 1 });
  const [known, unknown, repeated] = await p.generate([
    req({ steps: 1 }),
    req({ steps: 1, prompt: 'red heart, pastel hills', negativePrompt: 'blurry sun' }),
    req({ steps: 1, prompt: 'Hills hills', negativePrompt: 'hills', guidanceScale: 1 }),
  ]);
  assert.deepEqual(known.unknownWords, []);
  assert.deepEqual(unknown.unknownWords, ['pastel', 'hills', 'blurry']);
  assert.deepEqual(repeated.unknownWords, ['hills']);
  await p.release();
});

test('adapters apply per request: scale 0 is the base model, two uses of one adapter sum their scales', async () => {
  const p = await createPipeline(model, { intraOpThreads: 1 });
  const x = randomAdapter(p.moduleShapes, 2, 21);
  const y = randomAdapter(p.moduleShapes, 4, 22);
  const [base, zero, withX, twiceX, doubleX, withY] = await p.generate([
    req(),
    req({ adapters: [{ adapter: x, scale: 0 }] }),
    req({ adapters: [{ adapter: x, scale: 1 }] }),
    req({ adapters: [{ adapter: x, scale: 1 }, { adapter: x, scale: 1 }] }),
    req({ adapters: [{ adapter: x, scale: 2 }] }),
    req({ adapters: [{ adapter: y, scale: 1 }] }),
  ]);
  assert.ok(relErr(zero.images[0], base.images[0]) < 1e-5);
  assert.ok(relErr(withX.images[0], base.images[0]) > 1e-2, 'adapter changes the image');
  assert.ok(relErr(withY.images[0], withX.images[0]) > 1e-2, 'different adapters differ');
  assert.ok(relErr(twiceX.images[0], doubleX.images[0]) < 1e-4, 'summed adapters add their scales');
  // The mixed batch equals running each request alone.
  const [aloneY] = await p.generate([req({ adapters: [{ adapter: y, scale: 1 }] })]);
  assert.ok(relErr(aloneY.images[0], withY.images[0]) < 1e-5);
  await p.release();
});

test('model folders round-trip and npm run generate writes a PNG with an adapter', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'gen-'));
  await saveDiffusionModel(path.join(dir, 'model'), model, { dtype: 'F32' });
  const loaded = await loadDiffusionModel(path.join(dir, 'model'));
  assert.deepEqual(loaded.unetConfig, model.unetConfig);
  assert.deepEqual(loaded.sampleSpace, model.sampleSpace);
  for (const [k, v] of model.unetParams) assert.deepEqual(loaded.unetParams.get(k)!.data, v.data, k);
  const p = await createPipeline(loaded, { intraOpThreads: 1 });
  await writeLoraFile(path.join(dir, 'brand.safetensors'), randomAdapter(p.moduleShapes, 2, 4));
  await p.release();
  const out = path.join(dir, 'out.png');
  const cli = path.join(__dirname, '..', '..', 'src', 'cli', 'generate.cli.js');
  const r = spawnSync(process.execPath, [cli, '--model', path.join(dir, 'model'), '--prompt', 'red heart', '--out', out, '--steps', '3', '--adapter', path.join(dir, 'brand.safetensors'), '--scale', '0.8', '--upscale', '4'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const meta = await sharp(out).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, model.sampleSpace.imageSize * 4);
  const stats = await sharp(out).stats();
  assert.ok(stats.channels.some((c) => c.stdev > 1), 'image is not flat');
  await fsp.rm(dir, { recursive: true, force: true });
});

test('with an exact denoiser, sampling reconstructs the target image (v-prediction, guidance, pixel shuffle)', async () => {
  const { NoiseSchedule } = await import('../../src/engine/schedulers');
  const { pixelUnshuffle } = await import('../../src/engine/models/pixel-shuffle');
  const { TextToImagePipeline } = await import('../../src/engine/pipeline/text-to-image.pipeline');
  const size = model.sampleSpace.imageSize;
  const target = new Random(31).randn(3 * size * size).map((v) => Math.tanh(v) * 0.9);
  const x0 = pixelUnshuffle(target, 1, 3, size, size, patchSizeOf(model.sampleSpace));
  const schedule = new NoiseSchedule(model.schedulerConfig);
  // Oracle: the v that a perfect model predicts for x_t when the clean sample is x0.
  const oracle = {
    executor: 'oracle',
    async predict(b: { batch: number; sample: Float32Array; timesteps: Float32Array }) {
      const len = x0.length;
      const out = new Float32Array(b.sample.length);
      for (let r = 0; r < b.batch; r++) {
        const ab = schedule.alphaBar(b.timesteps[r]);
        for (let j = 0; j < len; j++) {
          const xt = b.sample[r * len + j];
          const eps = (xt - Math.sqrt(ab) * x0[j]) / Math.sqrt(1 - ab);
          out[r * len + j] = Math.sqrt(ab) * eps - Math.sqrt(1 - ab) * x0[j];
        }
      }
      return out;
    },
    async release() {},
  };
  const text = { async encode(_ids: BigInt64Array, _mask: Float32Array, n: number) { return new Float32Array(n * model.maxLength * model.unetConfig.cross_attention_dim); }, async release() {} };
  const p = new TextToImagePipeline({ model, textEncoder: text, denoiser: oracle, loraModules: [] });
  for (const scheduler of ['dpmpp-2m', 'ddim'] as const) {
    const [r] = await p.generate([req({ scheduler, steps: 25, guidanceScale: 4 })]);
    assert.ok(relErr(r.images[0], target) < 1e-3, `${scheduler}: relative error ${relErr(r.images[0], target)}`);
  }
});

test('a batch runs on the smallest denoiser whose LoRA inputs cover its adapters, with the same images', async () => {
  const full = await createPipeline(model, { intraOpThreads: 1 });
  const built: number[] = [];
  const tiered = new TextToImagePipeline({
    ...full.parts,
    createDenoiser: async (modules) => {
      built.push(modules.length);
      return OrtUNetDenoiser.create(model, modules, { intraOpThreads: 1 });
    },
  });
  const attention = loraTargetModules(model.unetConfig, 'attention');
  const attnAdapter = randomAdapter(loraModuleShapes(model.unetParams, attention), 2, 4);
  const convAdapter = randomAdapter(full.moduleShapes, 2, 5);
  assert.ok(full.parts.loraModules.length > attention.length, 'the full session also adapts convolutions');
  const base = (await tiered.generate([req()]))[0].images[0];
  assert.deepEqual(built, [0], 'no adapter: the session without LoRA inputs');
  const attn = (await tiered.generate([req({ adapters: [{ adapter: attnAdapter, scale: 1 }] })]))[0].images[0];
  assert.deepEqual(built, [0, attention.length], 'attention-only adapter: the attention session');
  const mixed = await tiered.generate([req({ adapters: [{ adapter: convAdapter, scale: 1 }] }), req(), req({ adapters: [{ adapter: attnAdapter, scale: 1 }] })]);
  assert.deepEqual(built, [0, attention.length], 'a convolution adapter runs on the full session, built once up front');
  assert.deepEqual(mixed[1].images[0], base, 'same image on the full session as without LoRA inputs');
  assert.deepEqual(mixed[2].images[0], attn, 'same image on the full session as on the attention session');
  await tiered.release();
});

test('an adapter with a timestep window acts only at steps below it; other rows of the batch are unaffected', async () => {
  const p = await createPipeline(model, { intraOpThreads: 1 });
  const x = randomAdapter(p.moduleShapes, 2, 41);
  const y = randomAdapter(p.moduleShapes, 2, 42);
  const T = model.schedulerConfig.num_train_timesteps;
  // Record, per denoiser call, its timestep and whether each row received non-zero LoRA factors.
  const calls: { t: number; rowsWithLora: boolean[] }[] = [];
  const denoiser = p.parts.denoiser;
  const predict = denoiser.predict.bind(denoiser);
  denoiser.predict = async (input) => {
    const [, b] = [...input.lora!.values()].slice(0, 2);
    const perRow = b.data.length / input.batch;
    calls.push({ t: input.timesteps[0], rowsWithLora: Array.from({ length: input.batch }, (_, r) => b.data.subarray(r * perRow, (r + 1) * perRow).some((v) => v !== 0)) });
    return predict(input);
  };
  const [base, full, windowed, never, always, mixedX, mixedY] = await p.generate([
    req(),
    req({ adapters: [{ adapter: x, scale: 1 }] }),
    req({ adapters: [{ adapter: x, scale: 1, timestepWindow: 0.6 }] }),
    req({ adapters: [{ adapter: x, scale: 1, timestepWindow: 1e-3 }] }),
    req({ adapters: [{ adapter: x, scale: 1, timestepWindow: 1 }] }),
    req({ seed: 6, adapters: [{ adapter: x, scale: 1, timestepWindow: 0.6 }] }),
    req({ seed: 7, adapters: [{ adapter: y, scale: 1 }] }),
  ]);
  assert.ok(relErr(never.images[0], base.images[0]) < 1e-5, 'a window below every step is the base model');
  assert.ok(relErr(always.images[0], full.images[0]) < 1e-5, 'window 1 is every step');
  assert.ok(relErr(windowed.images[0], base.images[0]) > 1e-2 && relErr(windowed.images[0], full.images[0]) > 1e-2, 'a partial window differs from both');
  // Row 2 (windowed) gets factors exactly at timesteps below 0.6 · T; row 1 (no window) at every step.
  assert.equal(calls.length, 4);
  for (const c of calls) {
    assert.equal(c.rowsWithLora[2], c.t < 0.6 * T, `t=${c.t}`);
    assert.equal(c.rowsWithLora[1], true);
    assert.equal(c.rowsWithLora[0], false);
  }
  assert.ok(calls.some((c) => c.t >= 0.6 * T) && calls.some((c) => c.t < 0.6 * T), 'steps on both sides of the window');
  denoiser.predict = predict;
  const [aloneX] = await p.generate([req({ seed: 6, adapters: [{ adapter: x, scale: 1, timestepWindow: 0.6 }] })]);
  const [aloneY] = await p.generate([req({ seed: 7, adapters: [{ adapter: y, scale: 1 }] })]);
  assert.ok(relErr(aloneX.images[0], mixedX.images[0]) < 1e-5 && relErr(aloneY.images[0], mixedY.images[0]) < 1e-5, 'batching does not change results');
  await p.release();
});
