import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadDiffusionModel, writeRandomSdFolder } from '../../src/engine';
import { readSafetensorsFile } from '../../src/engine/io/safetensors';
import { createSession, run } from '../../src/engine/onnx/ort-session';
import { OrtUNetDenoiser } from '../../src/engine/pipeline/onnx-executors';
import { OrtAutoencoderKl } from '../../src/engine/pipeline/vae-executors';
import { DenoiserTrainingGraph } from '../../src/engine/training/denoiser-training-graph';
import { loraTargetModules } from '../../src/engine/models/lora-targets';
import { exportSdGraphs } from '../../src/lab/benchmarks/sd-onnx-export';
import { loadVae, runSdBenchmark } from '../../src/lab/benchmarks/sd-benchmark';
import { describeWithEnv } from '../support/required-env';
import { relErr } from '../support/numerics';

const FIXTURE = path.resolve(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'tiny-sd');
let root = '';
let modelDir = '';

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'sd-bench-test-'));
  modelDir = path.join(root, 'sd-tiny');
  await writeRandomSdFolder(modelDir, { seed: 1, size: 'tiny', tokenizerDir: path.join(FIXTURE, 'tokenizer') });
});
after(() => rmSync(root, { recursive: true, force: true }));

test('--export: UNet with LoRA inputs, VAE decoder and LoRA training graphs with external data, inputs and CPU outputs that the engine\'s executors reproduce', async () => {
  const out = path.join(root, 'export');
  const { manifest } = await exportSdGraphs({ modelDir, outDir: out, loraTargets: 'attention', loraRank: 4, intraOpThreads: 1, log: () => undefined });
  const m = JSON.parse(readFileSync(manifest, 'utf8')) as { graphs: { name: string; model: string; data: string | null; inputs: string; outputs: string }[] };
  assert.deepEqual(m.graphs.map((g) => g.name), ['unet', 'vae-decoder', 'lora-training']);
  const files = Object.fromEntries(await Promise.all(m.graphs.map(async (g) => [g.name, { inputs: (await readSafetensorsFile(path.join(out, g.inputs))).tensors, outputs: (await readSafetensorsFile(path.join(out, g.outputs))).tensors }] as const)));
  for (const g of m.graphs) {
    assert.ok(g.data, `${g.name} has an external data file`);
    // What the CUDA check does, with the CPU provider here: load from the path, feed the stored inputs.
    const { session } = await createSession(path.join(out, g.model), { executionProvider: 'cpu', intraOpThreads: 1 });
    const feeds = Object.fromEntries([...files[g.name].inputs].map(([k, v]) => [k, { data: v.data, dims: v.shape }]));
    const got = await run(session, feeds);
    await session.release();
    for (const [k, v] of files[g.name].outputs) assert.ok(relErr(got[k].data as Float32Array, v.data) <= 1e-6, `${g.name}.${k}`);
  }

  // Independent of the export: the engine's own executors on the same inputs.
  const model = await loadDiffusionModel(modelDir);
  const unetIn = files.unet.inputs;
  const base = await OrtUNetDenoiser.create(model, [], { intraOpThreads: 1 });
  const row = unetIn.get('sample')!.data.length / 2;
  const eps = await base.predict({ batch: 2, sample: unetIn.get('sample')!.data, timesteps: unetIn.get('timestep')!.data, encoderHiddenStates: unetIn.get('encoder_hidden_states')!.data, encoderMask: unetIn.get('encoder_attention_mask')!.data, lora: null });
  await base.release();
  const exported = files.unet.outputs.get('out_sample')!.data;
  assert.ok(relErr(exported.subarray(row), eps.subarray(row)) <= 1e-5, 'row 1 (zero factors) is the base UNet');
  assert.ok(relErr(exported.subarray(0, row), eps.subarray(0, row)) > 1e-4, 'row 0 carries the adapter');

  const vae = await loadVae(modelDir);
  const decoder = await OrtAutoencoderKl.create(vae.config, vae.params, vae.config.sample_size, { intraOpThreads: 1 });
  const image = await decoder.decode(files['vae-decoder'].inputs.get('latents')!.data, 1);
  await decoder.release();
  assert.ok(relErr(files['vae-decoder'].outputs.get('image')!.data, image) <= 1e-5);

  const modules = loraTargetModules(model.unetConfig, 'attention');
  const train = await DenoiserTrainingGraph.create({ unet: model.unetConfig, params: model.unetParams, seqLen: 77, sampleShape: [4, 8, 8], objective: 'weighted-mse', lora: { modules, rank: 4 }, intraOpThreads: 1 });
  const ti = files['lora-training'].inputs;
  const factors = new Map([...ti].filter(([k]) => k.startsWith('lora.')).map(([k, v]) => [k, v.data]));
  const r = await train.step({ batch: 1, attentionMask: ti.get('attention_mask')!.data, encoderHiddenStates: ti.get('encoder_hidden_states')!.data, noisy: ti.get('noisy')!.data, timesteps: ti.get('timestep')!.data, target: ti.get('target')!.data, weights: ti.get('weights')!.data }, factors);
  await train.release();
  assert.ok(Math.abs(r.loss - files['lora-training'].outputs.get('loss')!.data[0]) <= 1e-6 * Math.abs(r.loss));
  for (const [name, g] of r.grads) assert.ok(relErr(files['lora-training'].outputs.get(`grad:${name}`)!.data, g) <= 1e-5, name);
});

describeWithEnv('npm run bench on an SD-class folder with the PyTorch baseline (scripts/sd-torch-bench.py)', ['TEST_PYTHON'], 'a Python with PyTorch and NumPy (Debian: python3-torch)', () => {
  test('PyTorch reproduces the engine\'s text encoder, UNet, VAE decode and LoRA gradients before both are timed', async () => {
    const r = (await runSdBenchmark({
      modelDir,
      intraOpThreads: 1,
      steps: 4,
      guidanceScale: 7.5,
      scheduler: 'pndm',
      unetRepeats: 1,
      fullImage: true,
      loraTargets: 'attention',
      loraRank: 4,
      python: process.env.TEST_PYTHON!,
      log: () => undefined,
    })) as { onnxruntime: Record<string, number>; pytorch: { checks: Record<string, number> } & Record<string, number>; ortSpeedupOverPytorch: Record<string, number> };
    const { checks } = r.pytorch;
    for (const k of ['textRelErr', 'unetRelErr', 'vaeRelErr', 'trainingLossRelErr']) assert.ok(checks[k] < 1e-4, `${k} ${checks[k]}`);
    // Gradients pass through GroupNorms of 16 values at the tiny model's 1×1 level: looser, still close.
    assert.ok(checks.trainingGradRelErr < 1e-2, `trainingGradRelErr ${checks.trainingGradRelErr}`);
    assert.equal(r.onnxruntime.unetEvaluationsPerImage, 5, 'PLMS visits its second timestep twice');
    for (const k of ['unetStep', 'vaeDecode', 'trainingStep', 'secondsPerImage']) assert.ok(r.ortSpeedupOverPytorch[k] > 0, k);
  });
});
