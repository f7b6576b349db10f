import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createRandomModel } from '../../src/engine/models/random-model';
import { sampleShape } from '../../src/engine/models/diffusion-model';
import { pixelUnshuffle } from '../../src/engine/models/pixel-shuffle';
import { NoiseSchedule, Random } from '../../src/engine/schedulers';
import { LossProportionalSampler, measureImageLosses, x0ErrorWeight } from '../../src/lab/pretraining/focus-sampler';
import { createTrainingStep } from '../../src/engine/training/training-backend';
import { patchSizeOf } from '../../src/engine/models/sample-space';
import type { CaptionedImages } from '../../src/lab/pretraining/pretrain.trainer';

test('loss-proportional sampler draws each index with probability ∝ loss^power', () => {
  const losses = Float32Array.from([0.1, 0.4, 0, 0.2, 0.3]);
  const sampler = new LossProportionalSampler(losses, 2);
  const total = [...losses].reduce((s, l) => s + l * l, 0);
  const rng = new Random(3);
  const n = 60_000;
  const counts = new Array(losses.length).fill(0);
  for (let i = 0; i < n; i++) counts[sampler.sample(rng)] += 1;
  for (let i = 0; i < losses.length; i++) {
    const p = (losses[i] * losses[i]) / total;
    assert.ok(Math.abs(sampler.probability(i) - p) < 1e-12, `probability(${i})`);
    // Binomial standard error at n = 60,000 is at most 0.002: allow four of them.
    assert.ok(Math.abs(counts[i] / n - p) < 0.008, `index ${i}: ${counts[i] / n} vs ${p}`);
  }
  assert.equal(counts[2], 0, 'a zero-loss image is never drawn by loss');
  assert.throws(() => new LossProportionalSampler(Float32Array.from([0.1, NaN]), 1), /finite/);
  assert.throws(() => new LossProportionalSampler(Float32Array.from([0, 0]), 1), /zero/);
});

test('x̂0 error weight matches the clean image recovered from a perturbed prediction', () => {
  const model = createRandomModel({ seed: 1 });
  const schedule = new NoiseSchedule(model.schedulerConfig);
  const rng = new Random(9);
  const n = 256;
  const x0 = rng.randn(n);
  const noise = rng.randn(n);
  const error = rng.randn(n).map((v) => 0.1 * v);
  for (const step of [10, 500, 950]) {
    const t = [step];
    const ab = schedule.alphaBar(step);
    const xt = schedule.addNoise(x0, noise, t);
    const cases = {
      v_prediction: (pred: number, x: number) => Math.sqrt(ab) * x - Math.sqrt(1 - ab) * pred,
      epsilon: (pred: number, x: number) => (x - Math.sqrt(1 - ab) * pred) / Math.sqrt(ab),
      sample: (pred: number) => pred,
    } as const;
    for (const [prediction, toX0] of Object.entries(cases) as [keyof typeof cases, (p: number, x: number) => number][]) {
      const target = schedule.trainingTarget(prediction, x0, noise, t);
      let predMse = 0;
      let x0Mse = 0;
      for (let i = 0; i < n; i++) {
        const pred = target[i] + error[i];
        predMse += error[i] ** 2 / n;
        x0Mse += (toX0(pred, xt[i]) - x0[i]) ** 2 / n;
      }
      const w = x0ErrorWeight(ab, prediction);
      assert.ok(Math.abs(w * predMse - x0Mse) < 1e-4 * Math.max(1, x0Mse), `${prediction} t=${step}: ${w * predMse} vs ${x0Mse}`);
    }
  }
});

test('per-image x̂0 errors agree with the training graph’s per-sample losses on the same batch', async () => {
  const model = createRandomModel({ seed: 5 });
  const size = model.sampleSpace.imageSize;
  const count = 5;
  const words = ['red heart', 'sun', 'cat face', 'pizza', 'rocket'];
  const images = new Random(8).randn(count * 3 * size * size).map(Math.tanh);
  const data: CaptionedImages = { count, imageSize: size, images, caption: (i, r) => (r.uniform() < 0.5 ? words[i] : `${words[i]} noto style`) };
  const timesteps = [600, 950];
  const params = new Map([...model.unetParams, ...model.textParams]);
  const measured = await measureImageLosses(model, params, data, { timesteps, seed: 11, intraOpThreads: 1 });

  // Independent path: the pretraining gradient graph, fed the same captions, noise and timesteps.
  const schedule = new NoiseSchedule(model.schedulerConfig);
  const [c, h, w] = sampleShape(model);
  const graph = await createTrainingStep({ unet: model.unetConfig, text: model.textConfig, params, seqLen: model.maxLength, sampleShape: [c, h, w], objective: 'weighted-mse', intraOpThreads: 1 }, 'onnxruntime');
  const flat = new Map([...params].map(([k, v]) => [k, v.data]));
  const rng = new Random(11);
  const captions = Array.from({ length: count }, (_, i) => data.caption(i, rng));
  const enc = model.tokenizer.encodeBatch(captions, { maxLength: model.maxLength, padding: 'max_length', truncation: true, dtype: 'int64' });
  const clean = pixelUnshuffle(images, count, 3, size, size, patchSizeOf(model.sampleSpace));
  const expected = new Float64Array(count);
  for (const step of timesteps) {
    const t = new Array(count).fill(step);
    const noise = rng.randn(count * c * h * w);
    const res = await graph.step(
      {
        inputIds: enc.inputIds as BigInt64Array,
        attentionMask: Float32Array.from(enc.attentionMask as BigInt64Array, (v) => Number(v)),
        noisy: schedule.addNoise(clean, noise, t),
        timesteps: Float32Array.from(t),
        target: schedule.trainingTarget(model.schedulerConfig.prediction_type, clean, noise, t),
        weights: new Float32Array(count).fill(1 / count),
        batch: count,
      },
      flat,
    );
    for (let i = 0; i < count; i++) expected[i] += (x0ErrorWeight(schedule.alphaBar(step), model.schedulerConfig.prediction_type) * res.perSampleMse[i]) / timesteps.length;
  }
  await graph.release();
  for (let i = 0; i < count; i++) {
    assert.ok(expected[i] > 0);
    assert.ok(Math.abs(measured[i] - expected[i]) < 1e-4 * expected[i], `image ${i}: ${measured[i]} vs ${expected[i]}`);
  }
});
