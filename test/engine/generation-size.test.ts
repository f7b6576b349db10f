import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readModelGeometry } from '../../src/engine/models/model-description';
import { ImageSizeError, checkActivationBudget, checkImageSize, estimateActivationBytes, imageSizeRules } from '../../src/engine/models/generation-size';
import { createRandomModel } from '../../src/engine/models/random-model';
import { OrtUNetDenoiser } from '../../src/engine/pipeline/onnx-executors';
import { createPipeline } from '../../src/engine/pipeline/pipeline.factory';
import { GenerationRequest, TextToImagePipeline } from '../../src/engine/pipeline/text-to-image.pipeline';
import type { DenoiseBatch, Denoiser } from '../../src/engine/pipeline/denoiser';
import type { ImageSize } from '../../src/engine/models/sample-space';
import { BUNDLED_MODEL_DIR as BUNDLED, TINY_SD_DIR as FIXTURE } from '../support/tiny-sd';
const model = createRandomModel({ seed: 3 });

function req(over: Partial<GenerationRequest> = {}): GenerationRequest {
  return { prompt: 'red heart noto style', seed: 5, steps: 3, guidanceScale: 3, scheduler: 'dpmpp-2m', numImages: 1, ...over };
}

function expectSizeError(fn: () => void, field: 'width' | 'height', message: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof ImageSizeError && e.field === field && message.test(e.message), String(message));
}

test('sizes are multiples of the pixels per sample cell times the UNet downsampling, up to 4× the native side', async () => {
  // diffusers: vae_scale_factor = 2^(len(vae block_out_channels) − 1); the UNet needs multiples of
  // 2^num_upsamplers (one upsampler per up block but the last). tiny-sd: VAE 2 × UNet 2; the bundled
  // model: 2×2 pixel patches × 2 upsamplers (three blocks).
  const tiny = await readModelGeometry(FIXTURE);
  assert.deepEqual(imageSizeRules(tiny), { native: { width: 16, height: 16 }, multiple: 4, maxWidth: 64, maxHeight: 64 });
  const bundled = await readModelGeometry(BUNDLED);
  assert.deepEqual(imageSizeRules(bundled), { native: { width: 32, height: 32 }, multiple: 8, maxWidth: 128, maxHeight: 128 });

  checkImageSize(tiny, { width: 64, height: 4 });
  expectSizeError(() => checkImageSize(tiny, { width: 18, height: 16 }), 'width', /^width must be a multiple of 4 from 4 to 64 for this model \(native 16\), got 18$/);
  expectSizeError(() => checkImageSize(tiny, { width: 16, height: 68 }), 'height', /^height must be a multiple of 4 from 4 to 64 .* got 68$/);
  expectSizeError(() => checkImageSize(bundled, { width: 0, height: 32 }), 'width', /multiple of 8 from 8 to 128 .* got 0$/);
  expectSizeError(() => checkImageSize(bundled, { width: 32, height: 36 }), 'height', /got 36$/);
});

test('activation estimate: skips plus the widest level, attention scores quadratic in the area, per row; the VAE decoder per image', async () => {
  const tiny = await readModelGeometry(FIXTURE);
  // tiny-sd at 16×16: latents 8×8 (64 cells) at level 0 (32 channels, cross-attention), 4×4 (16 cells)
  // at level 1 (64 channels, the mid block's attention); 8 heads; 77 tokens.
  const skips = 32 * 64 /* conv_in */ + 2 * 32 * 64 + 32 * 16 /* level 0 and its downsampler */ + 2 * 64 * 16; /* level 1 */
  const level0 = 5 * 32 * 64 + 16 * 32 * 64 + 2 * 8 * 64 * (64 + 77);
  const level1 = 5 * 64 * 16 + 16 * 64 * 16 + 2 * 8 * 16 * (16 + 77);
  // VAE decoder: 64 channels on the 8×8 grid, then 32 on 16×16, and the mid block's one-head attention over 64 cells.
  const vae = Math.max(6 * 64 * 64, 6 * 32 * 256) + 2 * 64 * 64 + 4 * 64 * 64;
  const one = estimateActivationBytes(tiny, { width: 16, height: 16 }, { images: 1, guided: false });
  assert.deepEqual(one, { unetBytes: 4 * (skips + Math.max(level0, level1)), vaeBytes: 4 * vae, peakBytes: 4 * (skips + level0) });
  const guided = estimateActivationBytes(tiny, { width: 16, height: 16 }, { images: 3, guided: true });
  assert.deepEqual([guided.unetBytes, guided.vaeBytes], [6 * one.unetBytes, 3 * one.vaeBytes], 'guidance doubles the UNet rows, not the decoded images');
  // Doubling the side quadruples the cells: the attention scores grow 16-fold, everything else 4-fold.
  const big = estimateActivationBytes(tiny, { width: 32, height: 32 }, { images: 1, guided: false });
  const bigLevel0 = 5 * 32 * 256 + 16 * 32 * 256 + 2 * 8 * 256 * (256 + 77);
  assert.equal(big.unetBytes, 4 * (4 * skips + bigLevel0));
  const pixel = await readModelGeometry(BUNDLED);
  assert.equal(estimateActivationBytes(pixel, { width: 32, height: 32 }, { images: 1, guided: true }).vaeBytes, 0, 'pixel models decode nothing');
});

test('over the memory budget: the larger side is named with the largest value that fits', async () => {
  const tiny = await readModelGeometry(FIXTURE);
  const opts = { images: 4, guided: true };
  const budgetBytes = estimateActivationBytes(tiny, { width: 40, height: 24 }, opts).peakBytes;
  checkActivationBudget(tiny, { width: 40, height: 24 }, { ...opts, budgetBytes });
  let message = '';
  assert.throws(() => checkActivationBudget(tiny, { width: 64, height: 24 }, { ...opts, budgetBytes, budgetName: 'GENERATION_MEMORY_BUDGET_MB' }), (e: unknown) => {
    message = (e as Error).message;
    return e instanceof ImageSizeError && e.field === 'width';
  });
  const largest = Number(/width must be a multiple of 4 from 4 to (\d+)$/.exec(message)?.[1]);
  assert.match(message, /^width 64 is too large: 64×24 for 4 image\(s\) with guidance needs an estimated \d+ MiB of activations, over the budget of \d+ MiB \(GENERATION_MEMORY_BUDGET_MB\); with height 24,/);
  assert.ok(estimateActivationBytes(tiny, { width: largest, height: 24 }, opts).peakBytes <= budgetBytes, `${largest} fits`);
  assert.ok(estimateActivationBytes(tiny, { width: largest + 4, height: 24 }, opts).peakBytes > budgetBytes, `${largest + 4} does not`);
  assert.throws(() => checkActivationBudget(tiny, { width: 24, height: 64 }, { ...opts, budgetBytes }), (e: unknown) => e instanceof ImageSizeError && e.field === 'height');
});

/** A pipeline on the random model whose denoisers record the sample shape of every call. */
async function recordingPipeline(memoryBudgetBytes?: number): Promise<{ pipeline: TextToImagePipeline; calls: string[]; built: string[]; released: string[] }> {
  const calls: string[] = [];
  const built: string[] = [];
  const released: string[] = [];
  const recording = (inner: Denoiser, size: ImageSize): Denoiser => ({
    executor: inner.executor,
    predict: (b: DenoiseBatch) => {
      calls.push(`${size.width}x${size.height}:${b.batch}:${b.sample.length / b.batch}`);
      return inner.predict(b);
    },
    release: async () => {
      released.push(`${size.width}x${size.height}`);
      await inner.release();
    },
  });
  const base = await createPipeline(model, { intraOpThreads: 1, loraModules: [] });
  const pipeline = new TextToImagePipeline({
    ...base.parts,
    denoiser: recording(base.parts.denoiser, { width: 16, height: 16 }),
    memoryBudgetBytes,
    createDenoiser: async (modules, size) => {
      built.push(`${size.width}x${size.height}`);
      return recording(await OrtUNetDenoiser.create(model, modules, { intraOpThreads: 1, size }), size);
    },
  });
  return { pipeline, calls, built, released };
}

test('requests of different sizes never share a denoiser call, and each gets the images it gets alone', async () => {
  const { pipeline, calls } = await recordingPipeline();
  const requests = [req({ seed: 1 }), req({ seed: 2, width: 24, height: 16 }), req({ seed: 3, numImages: 2 }), req({ seed: 4, width: 24, height: 16 }), req({ seed: 5, width: 8, height: 32 })];
  const batched = await pipeline.generate(requests);
  // 12 channels (2×2 patches of RGB) per cell: every call holds one size only.
  const perCall = new Map<string, number>();
  for (const c of calls) {
    const [size, batch, len] = c.split(':');
    const [w, h] = size.split('x').map(Number);
    assert.equal(Number(len), 12 * (w / 2) * (h / 2), c);
    perCall.set(size, Math.max(perCall.get(size) ?? 0, Number(batch)));
  }
  assert.deepEqual(Object.fromEntries(perCall), { '16x16': 6, '24x16': 4, '8x32': 2 }, 'guided rows of the requests of each size');
  assert.deepEqual(batched.map((r) => [r.width, r.height, r.images[0].length]), [[16, 16, 768], [24, 16, 1152], [16, 16, 768], [24, 16, 1152], [8, 32, 768]]);
  for (const [i, r] of requests.entries()) {
    const [alone] = await pipeline.generate([r]);
    assert.deepEqual(alone.images, batched[i].images, `request ${i}`);
  }
  await assert.rejects(pipeline.generate([req({ width: 18 })]), (e: unknown) => e instanceof ImageSizeError && e.field === 'width');
  await pipeline.release();
});

test('a group over the memory budget runs in several denoiser calls with the same images', async () => {
  const requests = [req({ seed: 1 }), req({ seed: 2, numImages: 2 }), req({ seed: 3, guidanceScale: 1 })];
  const unbounded = await recordingPipeline();
  const expected = await unbounded.pipeline.generate(requests);
  await unbounded.pipeline.release();
  // Room for two guided rows: every request alone (the second one still runs, whole, as the API refuses larger ones).
  const budget = estimateActivationBytes(model, { width: 16, height: 16 }, { images: 1, guided: true }).peakBytes;
  const bounded = await recordingPipeline(budget);
  const split = await bounded.pipeline.generate(requests);
  assert.deepEqual(bounded.calls.map((c) => Number(c.split(':')[1])).filter((b, i, all) => i === 0 || b !== all[i - 1]), [2, 4, 1], 'one call per request, per step');
  split.forEach((r, i) => assert.deepEqual(r.images, expected[i].images, `request ${i}`));
  await bounded.pipeline.release();
});

test('sessions of other sizes are built on first use and the least recently used are released past three', async () => {
  const { pipeline, built, released } = await recordingPipeline();
  for (const width of [24, 32, 40, 24, 48]) await pipeline.generate([req({ steps: 1, width })]);
  assert.deepEqual(built, ['24x16', '32x16', '40x16', '48x16'], 'a size is built once while it stays cached');
  assert.deepEqual(released, ['32x16'], 'the least recently used size goes first');
  await pipeline.generate([req({ steps: 1 })]);
  assert.deepEqual(built.length, 4, 'the native size keeps its session');
  await pipeline.release();
  assert.deepEqual(released.sort(), ['16x16', '24x16', '32x16', '40x16', '48x16']);
});
