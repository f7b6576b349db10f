import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fsp from 'fs/promises';
import * as os from 'os';
import * as path from 'path';
import { createRandomModel } from '../../src/engine/models/random-model';
import { loraTargetModules, type LoraTargets } from '../../src/engine/models/lora-targets';
import { moduleShapeOfWeight, LoraAdapter } from '../../src/engine/lora/lora-adapter';
import { sampleShape } from '../../src/engine/models/diffusion-model';
import { DenoiserTrainingGraph, TrainingGraphSpec } from '../../src/engine/training/denoiser-training-graph';
import { TfjsTrainingStep } from '../../src/engine/training/tfjs-training-step';
import { Demonstration, fineTune, FineTuneHyperparameters } from '../../src/engine';
import { droHingeLoss } from '../../src/engine/dro/dro-hinge';
import { ReplayBuffer, Trajectory } from '../../src/engine/dro/replay-buffer';
import { NoiseSchedule, Random } from '../../src/engine/schedulers';
import { denoisingRowWeights, mirrored, type PreparedDemonstrations } from '../../src/engine/dro/demonstration-batches';

const model = createRandomModel({ seed: 12 });
const size = model.sampleSpace.imageSize;

test('DRO hinge loss: hand-computed case', () => {
  // pair 0: (0.5 − 0.4) − (0.3 − 0.35) + 0.001 = 0.151 (active); pair 1: (0.2 − 0.3) − (0.1 − 0.05) + 0.001 < 0 (inactive)
  assert.ok(Math.abs(droHingeLoss([0.5, 0.2, 0.3, 0.1], [0.4, 0.3, 0.35, 0.05], 0.001) - 0.151 / 2) < 1e-12);
  assert.equal(droHingeLoss([0.1, 0.1], [0.1, 0.1], 0), 0);
});

function droSpec(targets: LoraTargets = 'attention'): TrainingGraphSpec {
  return {
    unet: model.unetConfig,
    params: model.unetParams,
    seqLen: model.maxLength,
    sampleShape: sampleShape(model),
    objective: 'dro-hinge',
    lora: { modules: loraTargetModules(model.unetConfig, targets), rank: 2 },
    margin: 0.001,
    intraOpThreads: 1,
  };
}

/** Σ (g − r)² and Σ r² over every gradient tensor: the squared error of g against the reference r. */
function gradientErrorSums(grads: Map<string, Float32Array>, reference: Map<string, Float32Array>): { num: number; den: number } {
  let num = 0;
  let den = 0;
  for (const [k, g] of grads) {
    const r = reference.get(k)!;
    for (let i = 0; i < g.length; i++) {
      num += (g[i] - r[i]) ** 2;
      den += r[i] ** 2;
    }
  }
  return { num, den };
}

/** Rank-2 LoRA factors for every trainable input of a graph, small enough to keep the UNet stable. */
function randomLoraFactors(graph: DenoiserTrainingGraph, rng: Random): Map<string, Float32Array> {
  const lora = new Map<string, Float32Array>();
  for (const name of graph.trainableNames) {
    const m = /^lora\.(.+)\.(a|b)$/.exec(name)!;
    const [o, i] = moduleShapeOfWeight(model.unetParams.get(`${m[1]}.weight`)!.shape);
    lora.set(name, rng.randn(m[2] === 'a' ? 2 * i : o * 2).map((v) => v * 0.3));
  }
  return lora;
}

for (const targets of ['attention', 'all'] as const) {
test(`DRO training graph (LoRA on ${targets}): loss equals the hinge of its per-sample losses, gradients match tfjs autodiff`, async () => {
  const spec = droSpec(targets);
  const rng = new Random(5);
  const [c, h, w] = spec.sampleShape;
  const b = 4; // 2 expert + 2 policy
  const inputs = {
    batch: b,
    noisy: rng.randn(b * c * h * w),
    timesteps: Float32Array.of(100, 700, 100, 700),
    target: rng.randn(b * c * h * w),
    encoderHiddenStates: rng.randn(b * spec.seqLen * spec.unet.cross_attention_dim),
    attentionMask: new Float32Array(b * spec.seqLen).fill(1),
    referenceMse: new Float32Array(b),
  };
  const ort = await DenoiserTrainingGraph.create(spec);
  const lora = randomLoraFactors(ort, rng);
  // Choose reference losses so that pair 0 is active and pair 1 is not.
  const probe = await ort.step(inputs, lora);
  const mse = probe.perSampleMse;
  inputs.referenceMse = Float32Array.of(mse[0] - 0.05, mse[1] + 0.05, mse[2], mse[3]);
  const res = await ort.step(inputs, lora);
  const expected = droHingeLoss(res.perSampleMse, inputs.referenceMse, 0.001);
  assert.ok(Math.abs(res.loss - expected) < 1e-6, `${res.loss} vs ${expected}`);
  assert.ok(Math.abs(res.loss - (0.05 + 0.001) / 2) < 1e-5);

  const tfjs = await TfjsTrainingStep.create(spec);
  const ref = await tfjs.step(inputs, lora);
  assert.ok(Math.abs(ref.loss - res.loss) < 1e-5);
  const { num, den } = gradientErrorSums(res.grads, ref.grads);
  assert.ok(den > 0, 'active pair produces gradients');
  assert.ok(Math.sqrt(num / den) < 1e-3, `gradient relative error ${Math.sqrt(num / den)}`);
  // An SFT anchor on the expert rows adds Σ w·mse to the hinge, with the same gradients in both executors.
  const anchored = { ...inputs, weights: Float32Array.of(0.25, 0.25, 0, 0) };
  const withAnchor = await ort.step(anchored, lora);
  const anchorTerm = 0.25 * (withAnchor.perSampleMse[0] + withAnchor.perSampleMse[1]);
  assert.ok(Math.abs(withAnchor.loss - (droHingeLoss(withAnchor.perSampleMse, inputs.referenceMse, 0.001) + anchorTerm)) < 1e-6);
  const anchoredRef = await tfjs.step(anchored, lora);
  let an = 0;
  let ad = 0;
  for (const [k, g] of withAnchor.grads) {
    const r = anchoredRef.grads.get(k)!;
    const plain = res.grads.get(k)!;
    for (let i = 0; i < g.length; i++) {
      an += (g[i] - r[i]) ** 2;
      ad += (r[i] - plain[i]) ** 2;
    }
  }
  assert.ok(ad > 0, 'the anchor changes the gradients');
  assert.ok(Math.sqrt(an) < 1e-3 * Math.sqrt(ad + den), `anchored gradient error ${Math.sqrt(an)}`);
  if (targets === 'all') {
    // Every convolution's factors get a gradient of their own, checked against tfjs separately.
    const convs = [...res.grads.keys()].filter((k) => /(conv1|conv2|conv_in|conv_out|downsamplers\.0\.conv|upsamplers\.0\.conv)\.(a|b)$/.test(k));
    assert.ok(convs.length >= 8, `convolution LoRA inputs: ${convs.length}`);
    for (const k of convs.filter((n) => n.endsWith('.a'))) {
      const g = res.grads.get(k)!;
      const r = ref.grads.get(k)!;
      let d = 0;
      let n = 0;
      for (let i = 0; i < g.length; i++) {
        d += (g[i] - r[i]) ** 2;
        n += r[i] ** 2;
      }
      assert.ok(n > 0 && Math.sqrt(d / n) < 1e-3, `${k}: relative error ${Math.sqrt(d / Math.max(n, 1e-30))}`);
    }
  }
  await ort.release();
  await tfjs.release();
});
}

function trajectory(demoIndex: number, steps: number, len = 3): Trajectory {
  const timesteps = Array.from({ length: steps }, (_, i) => 900 - i * 100);
  return { demoIndex, dropped: false, timesteps, xt: timesteps.map((t) => new Float32Array(len).fill(t)), output: timesteps.map((t) => new Float32Array(len).fill(-t)) };
}

test('replay buffer keeps the newest trajectories and samples (trajectory, step) pairs', () => {
  const b = new ReplayBuffer(3);
  for (let i = 0; i < 5; i++) b.push(trajectory(i, 4));
  assert.equal(b.size, 3);
  const rng = new Random(1);
  const picks = b.sample(3, rng);
  assert.deepEqual(new Set(picks.map((p) => p.trajectory.demoIndex)), new Set([2, 3, 4]), 'distinct, newest three');
  for (const p of picks) {
    assert.equal(p.trajectory.xt[p.step][0], p.trajectory.timesteps[p.step], 'x_t matches its timestep');
    assert.equal(p.trajectory.output[p.step][0], -p.trajectory.timesteps[p.step]);
  }
  assert.equal(b.sample(10, rng).length, 10, 'with replacement beyond the buffer size');
  assert.throws(() => b.push({ ...trajectory(0, 3), timesteps: [100, 200, 300] }), /descend/);
  const { tensors, meta } = b.toTensors();
  const restored = ReplayBuffer.fromTensors(3, new Map([...tensors].map(([k, v]) => [k, v.data])), meta);
  assert.equal(restored.size, 3);
  assert.deepEqual(restored.sample(3, new Random(9)).map((p) => p.step), b.sample(3, new Random(9)).map((p) => p.step));
});

function demos(n: number): Demonstration[] {
  const rng = new Random(77);
  return Array.from({ length: n }, (_, i) => ({ image: rng.randn(3 * size * size).map((v) => Math.tanh(v)), caption: i % 2 ? 'red heart' : 'cat face' }));
}

const tinyHp: Partial<FineTuneHyperparameters> = { steps: 4, batchSize: 2, rank: 2, alpha: 2, samplingSteps: 3, bufferBatch: 2, bufferCapacity: 3, bufferSampleEvery: 1, policyRefreshSteps: 2, seed: 3 };

function flat(a: LoraAdapter): Float32Array {
  const parts = [...a.layers.keys()].sort().flatMap((k) => [a.layers.get(k)!.a, a.layers.get(k)!.b]);
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

test('replay buffer draws only low-noise steps under a timestep bound', () => {
  const buf = new ReplayBuffer(4);
  for (let i = 0; i < 4; i++) buf.push(trajectory(i, 9));
  const rng = new Random(2);
  const picks = buf.sample(64, rng, 450);
  assert.ok(picks.every((p) => p.trajectory.timesteps[p.step] < 450));
  assert.deepEqual([...new Set(picks.map((p) => p.trajectory.timesteps[p.step]))].sort(), [100, 200, 300, 400]);
  // A bound below every step of a trajectory falls back to all of its steps.
  assert.ok(buf.sample(16, rng, 50).some((p) => p.trajectory.timesteps[p.step] >= 100));
});

test('DRO fine-tune: deterministic, reports progress, resumes exactly from a checkpoint after cancel', async () => {
  const progress: number[] = [];
  const full = await fineTune({ model, demonstrations: demos(4), method: 'dro', hyperparameters: tinyHp, intraOpThreads: 1, onProgress: (p) => progress.push(p.step) });
  assert.deepEqual(progress, [1, 2, 3, 4]);
  assert.equal(full.steps, 4);
  assert.ok(flat(full.adapter).some((v, i) => v !== 0 && i >= 0), 'adapter trained');
  const again = await fineTune({ model, demonstrations: demos(4), method: 'dro', hyperparameters: tinyHp, intraOpThreads: 1 });
  assert.deepEqual(flat(again.adapter), flat(full.adapter), 'same seed, same adapter');

  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'dro-'));
  const ac = new AbortController();
  const first = await fineTune({
    model,
    demonstrations: demos(4),
    method: 'dro',
    hyperparameters: tinyHp,
    intraOpThreads: 1,
    checkpointDir: dir,
    signal: ac.signal,
    onProgress: (p) => {
      if (p.step === 2) ac.abort();
    },
  });
  assert.equal(first.canceled, true);
  assert.equal(first.steps, 2);
  const resumed = await fineTune({ model, demonstrations: demos(4), method: 'dro', hyperparameters: tinyHp, intraOpThreads: 1, checkpointDir: dir, resume: true });
  assert.equal(resumed.steps, 4);
  assert.deepEqual(flat(resumed.adapter), flat(full.adapter), 'resumed run equals the uninterrupted one');
  await fsp.rm(dir, { recursive: true, force: true });
});

test('DRO with guided policy trajectories: deterministic, trains a different adapter, guidance below 1 rejected', async () => {
  const guidedHp = { ...tinyHp, policyGuidance: 3 };
  const unguided = await fineTune({ model, demonstrations: demos(4), method: 'dro', hyperparameters: tinyHp, intraOpThreads: 1 });
  const guided = await fineTune({ model, demonstrations: demos(4), method: 'dro', hyperparameters: guidedHp, intraOpThreads: 1 });
  const again = await fineTune({ model, demonstrations: demos(4), method: 'dro', hyperparameters: guidedHp, intraOpThreads: 1 });
  assert.deepEqual(flat(again.adapter), flat(guided.adapter), 'same seed, same adapter');
  assert.notDeepEqual(flat(guided.adapter), flat(unguided.adapter), 'guidance changes the policy samples the adapter is trained against');
  await assert.rejects(fineTune({ model, demonstrations: demos(4), method: 'dro', hyperparameters: { ...tinyHp, policyGuidance: 0.5 } }), /policyGuidance/);
});

test('SFT baseline trains the same LoRA shape; online rounds continue from an adapter and its optimizer state', async () => {
  const sft = await fineTune({ model, demonstrations: demos(3), method: 'sft', hyperparameters: tinyHp, intraOpThreads: 1 });
  assert.equal(sft.adapter.rank, 2);
  assert.equal(sft.adapter.metadata.method, 'sft');
  const next = await fineTune({
    model,
    demonstrations: demos(5),
    method: 'dro',
    hyperparameters: { ...tinyHp, steps: 1, lr: 1e-9, emaDecay: 0 },
    initAdapter: sft.adapter,
    initOptimizerState: sft.optimizerState,
    intraOpThreads: 1,
  });
  assert.equal(next.optimizerState.step, sft.optimizerState.step + 1, 'optimizer state carried over');
  const a = flat(next.adapter);
  const b = flat(sft.adapter);
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
  assert.ok(maxDiff < 1e-6, 'starts from the given adapter');
});

test('DRO graph with output-preservation rows: the hinge pairs only the first 2·P rows, later rows add Σ w·mse; gradients match tfjs', async () => {
  const spec: TrainingGraphSpec = { ...droSpec('all'), hingePairs: 2 };
  const rng = new Random(8);
  const [c, h, w] = spec.sampleShape;
  const b = 6; // 2 expert + 2 policy + 2 preservation rows
  const inputs = {
    batch: b,
    noisy: rng.randn(b * c * h * w),
    timesteps: Float32Array.of(100, 700, 100, 700, 300, 50),
    target: rng.randn(b * c * h * w),
    encoderHiddenStates: rng.randn(b * spec.seqLen * spec.unet.cross_attention_dim),
    attentionMask: new Float32Array(b * spec.seqLen).fill(1),
    referenceMse: new Float32Array(b),
    weights: Float32Array.of(0.5, 0.5, 0, 0, 0.25, 0.25),
  };
  const ort = await DenoiserTrainingGraph.create(spec);
  const lora = randomLoraFactors(ort, rng);
  const probe = await ort.step(inputs, lora);
  const mse = probe.perSampleMse;
  inputs.referenceMse = Float32Array.of(mse[0] - 0.05, mse[1] + 0.05, mse[2], mse[3], 123, -123);
  const res = await ort.step(inputs, lora);
  const expected = droHingeLoss(res.perSampleMse.subarray(0, 4), inputs.referenceMse.subarray(0, 4), 0.001) + [...res.perSampleMse].reduce((s, m, i) => s + inputs.weights[i] * m, 0);
  assert.ok(Math.abs(res.loss - expected) < 1e-5, `${res.loss} vs ${expected}`);
  // Reference losses of the preservation rows do not enter the hinge.
  const shifted = await ort.step({ ...inputs, referenceMse: Float32Array.of(...inputs.referenceMse.subarray(0, 4), 0, 0) }, lora);
  assert.ok(Math.abs(shifted.loss - res.loss) < 1e-6);
  const tfjs = await TfjsTrainingStep.create(spec);
  const ref = await tfjs.step(inputs, lora);
  assert.ok(Math.abs(ref.loss - res.loss) < 1e-4, `tfjs ${ref.loss} vs ${res.loss}`);
  const { num, den } = gradientErrorSums(res.grads, ref.grads);
  assert.ok(den > 0 && Math.sqrt(num / den) < 1e-3, `gradient relative error ${Math.sqrt(num / den)}`);
  await ort.release();
  await tfjs.release();
});

test('output preservation: DRO and SFT train deterministically with it, and it changes the adapter', async () => {
  const withContent = demos(4).map((d) => ({ ...d, caption: `${d.caption} noto style`, contentCaption: d.caption }));
  for (const method of ['dro', 'sft'] as const) {
    const plain = await fineTune({ model, demonstrations: withContent, method, hyperparameters: tinyHp, intraOpThreads: 1 });
    const kept = await fineTune({ model, demonstrations: withContent, method, hyperparameters: { ...tinyHp, preservationWeight: 1 }, intraOpThreads: 1 });
    const again = await fineTune({ model, demonstrations: withContent, method, hyperparameters: { ...tinyHp, preservationWeight: 1 }, intraOpThreads: 1 });
    assert.deepEqual(flat(again.adapter), flat(kept.adapter), `${method}: same seed, same adapter`);
    assert.notDeepEqual(flat(kept.adapter), flat(plain.adapter), `${method}: preservation changes training`);
  }
  await assert.rejects(fineTune({ model, demonstrations: withContent, method: 'sft', hyperparameters: { ...tinyHp, preservationWeight: -1 } }), /preservationWeight/);
});

test('mirror augmentation flips each demonstration left to right; Min-SNR-γ weights follow min(SNR, γ)/(SNR + 1)', () => {
  const d = demos(1)[0];
  const m = mirrored(d);
  assert.equal(m.caption, d.caption);
  for (const [c, y, x] of [[0, 0, 0], [1, 3, size - 1], [2, size - 1, 5]]) assert.equal(m.image[(c * size + y) * size + x], d.image[(c * size + y) * size + (size - 1 - x)]);
  assert.deepEqual(mirrored(m).image, d.image, 'mirroring twice is the identity');

  const schedule = new NoiseSchedule(model.schedulerConfig);
  const t = [0, 10, 400, 999];
  const prep = (minSnrGamma: number) => ({ schedule, hp: { minSnrGamma } }) as unknown as PreparedDemonstrations;
  assert.deepEqual([...denoisingRowWeights(prep(0), t, 0.25)], [0.25, 0.25, 0.25, 0.25], 'off: every row weighs the same');
  const w = denoisingRowWeights(prep(5), t, 0.25);
  assert.equal(model.schedulerConfig.prediction_type, 'v_prediction');
  t.forEach((ti, i) => {
    const ab = schedule.alphaBar(ti);
    const snr = ab / (1 - ab);
    assert.ok(Math.abs(w[i] - (0.25 * Math.min(snr, 5)) / (snr + 1)) < 1e-6, `t=${ti}: ${w[i]}`);
  });
  assert.ok(w[0] < w[2], 'the near-clean rows, whose SNR is far above γ, weigh less than mid-noise rows');
});

test('mirror augmentation and Min-SNR-γ: DRO and SFT train deterministically with them, and each changes the adapter', async () => {
  for (const method of ['dro', 'sft'] as const) {
    const plain = flat((await fineTune({ model, demonstrations: demos(3), method, hyperparameters: tinyHp, intraOpThreads: 1 })).adapter);
    for (const extra of [{ mirrorAugmentation: true }, { minSnrGamma: 5 }]) {
      const a = await fineTune({ model, demonstrations: demos(3), method, hyperparameters: { ...tinyHp, ...extra }, intraOpThreads: 1 });
      const b = await fineTune({ model, demonstrations: demos(3), method, hyperparameters: { ...tinyHp, ...extra }, intraOpThreads: 1 });
      assert.deepEqual(flat(b.adapter), flat(a.adapter), `${method} ${JSON.stringify(extra)}: same seed, same adapter`);
      assert.notDeepEqual(flat(a.adapter), plain, `${method} ${JSON.stringify(extra)} changes training`);
    }
  }
  await assert.rejects(fineTune({ model, demonstrations: demos(3), method: 'sft', hyperparameters: { ...tinyHp, minSnrGamma: -1 } }), /minSnrGamma/);
  await assert.rejects(fineTune({ model, demonstrations: demos(3), method: 'sft', hyperparameters: { ...tinyHp, mirrorAugmentation: 'yes' as never } }), /mirrorAugmentation/);
});
