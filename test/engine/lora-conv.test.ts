/**
 * LoRA on convolutions (peft's Conv2d LoRA, kohya LoCon): per-sample inference against the merged
 * weights they stand for, target sets, the file format both ways, and fine-tuning with every layer.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { LoraFactors } from '../../src/engine/graph/ops';
import { ParamMap } from '../../src/engine/models/param-init';
import { loraModuleShapes, loraTargetModules } from '../../src/engine/models/lora-targets';
import { createRandomModel } from '../../src/engine/models/random-model';
import { adapterFromLayers, createLoraAdapter, LoraError, type LoraLayer } from '../../src/engine/lora/lora-adapter';
import { loraAdapterFromTensors, parseLoraAdapter } from '../../src/engine/lora/lora-file.reader';
import { loraFileContents, serializeLoraAdapter } from '../../src/engine/lora/lora-file.writer';
import { mergedDelta, packLoraBatch } from '../../src/engine/lora/lora-batch.packer';
import { Demonstration, fineTune } from '../../src/engine';
import { Random } from '../../src/engine/schedulers/random';
import { buildUNetGraph, onnxUNet, relErr, tfjsUNet, TINY_CROSS, unetCase, type UNetCase } from '../support/unet-cases';

tf.setBackend('cpu');

const CONV = 'down_blocks.0.resnets.0.conv1';
const SHORTCUT = 'up_blocks.0.resnets.0.conv_shortcut';
const DOWNSAMPLER = 'down_blocks.0.downsamplers.0.conv';

/** Sample i alone, through tfjs, with its adapter merged into the weights: W + B_i·A_i reshaped. */
function mergedReference(c: UNetCase, layers: Map<string, LoraLayer>[], i: number): Float32Array {
  const params: ParamMap = new Map(c.params);
  for (const [m, layer] of layers[i]) {
    const w = c.params.get(`${m}.weight`)!;
    const delta = mergedDelta(layer);
    params.set(`${m}.weight`, { shape: w.shape, data: w.data.map((v, j) => v + delta[j]) });
  }
  const s = c.cfg.sample_size;
  const per = c.cfg.in_channels * s * s;
  const one: UNetCase = {
    ...c,
    params,
    n: 1,
    sample: c.sample.slice(i * per, (i + 1) * per),
    t: c.t.slice(i, i + 1),
    ctx: c.ctx.slice(i * c.m * c.cfg.cross_attention_dim, (i + 1) * c.m * c.cfg.cross_attention_dim),
    mask: c.mask.slice(i * c.m, (i + 1) * c.m),
  };
  return tfjsUNet(one);
}

test('target sets: attention ⊂ attention+ff ⊂ all, and all reaches every convolution', () => {
  const c = unetCase(TINY_CROSS, 1, 3, 1);
  const attention = loraTargetModules(c.cfg, 'attention');
  const ff = loraTargetModules(c.cfg, 'attention+ff');
  const all = loraTargetModules(c.cfg, 'all');
  assert.ok(attention.every((m) => ff.includes(m)) && ff.every((m) => all.includes(m)));
  assert.ok(ff.some((m) => m.endsWith('ff.net.2')) && !attention.some((m) => m.includes('.ff.')));
  const convWeights = [...c.params].filter(([k, v]) => k.endsWith('.weight') && v.shape.length === 4).map(([k]) => k.slice(0, -'.weight'.length));
  assert.ok(convWeights.length > 0 && convWeights.every((m) => all.includes(m)), 'every convolution is a target of "all"');
  assert.ok(!all.some((m) => m.startsWith('time_embedding.')), 'the shared timestep MLP is left alone');
  const shapes = loraModuleShapes(c.params, all);
  const [out, inp, k] = shapes.get(CONV)!;
  const w = c.params.get(`${CONV}.weight`)!.shape;
  assert.deepEqual([out, inp, k], [w[0], w[1] * 9, 3]);
  const blocks = loraTargetModules(c.cfg, 'blocks');
  const decoder = loraTargetModules(c.cfg, 'decoder');
  assert.ok(decoder.length > 0 && decoder.every((m) => m.startsWith('up_blocks.') && blocks.includes(m)), 'decoder: the up blocks’ share of blocks');
  assert.deepEqual(decoder, blocks.filter((m) => m.startsWith('up_blocks.')));
  assert.throws(() => loraTargetModules(c.cfg, 'everything' as never), /targets must be one of/);
});

test('per-sample convolution LoRA (ONNX patches, tfjs) equals the merged weights, one adapter per sample', async () => {
  const c = unetCase(TINY_CROSS, 3, 5, 41);
  const modules = loraTargetModules(c.cfg, 'all');
  const shapes = loraModuleShapes(c.params, modules);
  assert.ok([CONV, SHORTCUT, DOWNSAMPLER].every((m) => shapes.has(m)));
  const rng = new Random(7);
  // Sample 0: rank 2 on every layer; sample 1: none; sample 2: rank 3 on the convolutions only.
  const adapters = [2, 0, 3].map((rank, i) => {
    if (rank === 0) return null;
    const targets = i === 2 ? modules.filter((m) => shapes.get(m)!.length === 3) : modules;
    const a = createLoraAdapter(shapes, { rank, seed: 10 + i, targetModules: targets });
    for (const layer of a.layers.values()) for (let j = 0; j < layer.b.length; j++) layer.b[j] = rng.normal() * 0.3;
    return a;
  });
  const packed = packLoraBatch(modules, shapes, adapters.map((a) => (a ? [{ adapter: a, scale: 1 }] : [])));
  const feeds = Object.fromEntries([...packed.feeds].map(([k, v]) => [k, { data: v.data, dims: v.dims as number[] }]));
  const got = await onnxUNet(c, buildUNetGraph(c, modules), feeds);
  const tfLora = new Map<string, LoraFactors<tf.Tensor>>();
  for (const m of modules) {
    const a = packed.feeds.get(`lora.${m}.a`)!;
    const b = packed.feeds.get(`lora.${m}.b`)!;
    tfLora.set(m, { a: tf.tensor(a.data, a.dims), b: tf.tensor(b.data, b.dims) });
  }
  const viaTfjs = tfjsUNet(c, tfLora);
  const per = got.length / c.n;
  const layers = adapters.map((a) => a?.layers ?? new Map<string, LoraLayer>());
  for (let i = 0; i < c.n; i++) {
    const ref = mergedReference(c, layers, i);
    const onnxErr = relErr(got.subarray(i * per, (i + 1) * per), ref);
    const tfjsErr = relErr(viaTfjs.subarray(i * per, (i + 1) * per), ref);
    assert.ok(onnxErr < 1e-4, `sample ${i}: ONNX vs merged weights ${onnxErr}`);
    assert.ok(tfjsErr < 1e-4, `sample ${i}: tfjs vs merged weights ${tfjsErr}`);
  }
  const base = tfjsUNet(c);
  assert.ok(relErr(got.subarray(2 * per), base.subarray(2 * per)) > 1e-3, 'convolution-only adapter changes the output');
});

test('shared factors (training path: two convolutions) equal the merged weights too', () => {
  const c = unetCase(TINY_CROSS, 2, 4, 5);
  const modules = loraTargetModules(c.cfg, 'all').filter((m) => /conv|samplers/.test(m));
  const shapes = loraModuleShapes(c.params, modules);
  const adapter = createLoraAdapter(shapes, { rank: 2, alpha: 4, seed: 3 });
  const rng = new Random(4);
  for (const layer of adapter.layers.values()) for (let j = 0; j < layer.b.length; j++) layer.b[j] = rng.normal() * 0.3;
  const lora = new Map<string, LoraFactors<tf.Tensor>>();
  for (const [m, l] of adapter.layers) {
    lora.set(m, { a: tf.tensor(l.a, [1, l.rank, l.inFeatures]), b: tf.tensor(l.b.map((v) => v * (l.alpha / l.rank)), [1, l.outFeatures, l.rank]) });
  }
  const got = tfjsUNet(c, lora);
  const per = got.length / c.n;
  for (let i = 0; i < c.n; i++) {
    const ref = mergedReference(c, [adapter.layers, adapter.layers], i);
    assert.ok(relErr(got.subarray(i * per, (i + 1) * per), ref) < 1e-4);
  }
});

test('convolution layers round-trip through files in peft Conv2d layout, and kohya LoCon imports', () => {
  const model = createRandomModel({ seed: 2 });
  const modules = loraTargetModules(model.unetConfig, 'all');
  const shapes = loraModuleShapes(model.unetParams, modules);
  const adapter = createLoraAdapter(shapes, { rank: 3, alpha: 6, seed: 9 });
  const trained = new Random(4);
  for (const l of adapter.layers.values()) l.b.set(trained.randn(l.b.length));
  const { tensors } = loraFileContents(adapter);
  const w = model.unetParams.get(`${CONV}.weight`)!.shape;
  assert.deepEqual(tensors.get(`unet.${CONV}.lora_A.weight`)!.shape, [3, w[1], 3, 3]);
  assert.deepEqual(tensors.get(`unet.${CONV}.lora_B.weight`)!.shape, [w[0], 3, 1, 1]);
  const proj = modules.find((m) => m.endsWith('proj_in'))!;
  assert.equal(tensors.get(`unet.${proj}.lora_A.weight`)!.shape.length, 4, '1×1 convolutions keep their kernel dims');
  const back = parseLoraAdapter(serializeLoraAdapter(adapter), { moduleShapes: shapes }).adapter;
  assert.equal(back.layers.size, adapter.layers.size);
  for (const [m, l] of adapter.layers) {
    const r = back.layers.get(m)!;
    assert.equal(r.kernelSize, l.kernelSize, `${m}: kernel`);
    assert.deepEqual(r.a, l.a);
    // alpha/rank = 2 travels in lora_B; the file records alpha = rank.
    assert.deepEqual(r.b, l.b.map((v) => v * 2));
    assert.equal(r.alpha, 3);
  }

  // kohya LoCon: lora_down a k×k kernel, lora_up 1×1, a per-layer alpha.
  const rng = new Random(1);
  const down = rng.randn(4 * w[1] * 9);
  const up = rng.randn(w[0] * 4);
  const kohya = new Map([
    [`lora_unet_${CONV.replace(/\./g, '_')}.lora_down.weight`, { shape: [4, w[1], 3, 3], data: down }],
    [`lora_unet_${CONV.replace(/\./g, '_')}.lora_up.weight`, { shape: [w[0], 4, 1, 1], data: up }],
    [`lora_unet_${CONV.replace(/\./g, '_')}.alpha`, { shape: [], data: Float32Array.of(2) }],
  ]);
  const read = loraAdapterFromTensors(kohya, {}, { moduleShapes: shapes });
  assert.equal(read.format, 'kohya');
  const layer = read.adapter.layers.get(CONV)!;
  assert.equal(layer.kernelSize, 3);
  assert.equal(layer.inFeatures, w[1] * 9);
  assert.equal(layer.alpha, 2);
  assert.deepEqual(layer.a, down);
});

test('a convolution LoRA that does not fit the layer is refused with the reason', () => {
  const model = createRandomModel({ seed: 2 });
  const shapes = loraModuleShapes(model.unetParams, loraTargetModules(model.unetConfig, 'all'));
  const [out, inp] = shapes.get(CONV)!;
  // The same number of values as a 1×1 factor on a 3×3 layer: a different kernel, not a different matrix.
  const wrongKernel: LoraLayer = { a: new Float32Array(2 * inp), b: new Float32Array(out * 2), rank: 2, inFeatures: inp, outFeatures: out, alpha: 2, kernelSize: 1 };
  const file = serializeLoraAdapter(adapterFromLayers(new Map([[CONV, wrongKernel]])));
  assert.throws(() => parseLoraAdapter(file, { moduleShapes: shapes }), (e: unknown) => e instanceof LoraError && /1×1 convolution, the base model's layer is a 3×3 convolution/.test((e as Error).message));
  const badKernel: LoraLayer = { ...wrongKernel, kernelSize: 5 };
  assert.throws(() => serializeLoraAdapter(adapterFromLayers(new Map([[CONV, badKernel]]))), /kernel size 5 does not divide/);
});

test('fine-tuning with targets "all" trains convolution factors (SFT and DRO)', async () => {
  const model = createRandomModel({ seed: 12 });
  const size = model.sampleSpace.imageSize;
  const rng = new Random(3);
  const demos: Demonstration[] = Array.from({ length: 3 }, (_, i) => ({ image: rng.randn(3 * size * size).map((v) => Math.tanh(v)), caption: ['red heart', 'sun', 'cat face'][i] }));
  const hp = { steps: 3, batchSize: 2, rank: 2, alpha: 2, samplingSteps: 2, bufferBatch: 2, bufferCapacity: 2, bufferSampleEvery: 1, policyRefreshSteps: 1, seed: 1, targets: 'all' as const };
  for (const method of ['sft', 'dro'] as const) {
    const res = await fineTune({ model, demonstrations: demos, method, hyperparameters: hp, intraOpThreads: 1 });
    const conv = res.adapter.layers.get(CONV);
    assert.ok(conv && conv.kernelSize === 3, `${method}: has a 3×3 LoRA on ${CONV}`);
    assert.ok(conv.b.some((v) => v !== 0), `${method}: the convolution's B moved from zero`);
  }
  await assert.rejects(fineTune({ model, demonstrations: demos, method: 'sft', hyperparameters: { ...hp, targets: 'convs' as never } }), /targets must be one of/);
});
