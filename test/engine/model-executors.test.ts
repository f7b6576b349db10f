import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TfjsOps } from '../../src/engine/graph/tfjs-ops';
import { OnnxGraphOps, Sym } from '../../src/engine/graph/onnx-graph-ops';
import { LoraFactors } from '../../src/engine/graph/ops';
import { encodeModel } from '../../src/engine/onnx/onnx-model';
import { createSession, run } from '../../src/engine/onnx/ort-session';
import { unetForward, attentionProjectionModules } from '../../src/engine/models/unet-2d-condition.model';
import { clipTextForward, clipTextParamShapes, parseClipTextConfig } from '../../src/engine/models/clip-text.model';
import { initParams, ParamMap } from '../../src/engine/models/param-init';
import { Random } from '../../src/engine/schedulers/random';

import { buildUNetGraph, onnxUNet, relErr, tfjsUNet, tfParams, TINY_CROSS, unetCase } from '../support/unet-cases';

tf.setBackend('cpu');

// SD-1.5's block layout (3 cross-attention down blocks + plain, 2 layers per block, conv projections,
// legacy attention_head_dim = heads) at a small width.
const SD15_SHAPED = {
  sample_size: 16,
  in_channels: 4,
  out_channels: 4,
  block_out_channels: [16, 32, 32, 32],
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  layers_per_block: 2,
  norm_num_groups: 8,
  cross_attention_dim: 24,
  attention_head_dim: 4,
  flip_sin_to_cos: true,
  freq_shift: 0,
};

// SD-2-style variant: linear projections, per-block heads, freq_shift 1, no sin/cos flip, odd sample size after patching.
const LINEAR_PROJ = {
  sample_size: 8,
  in_channels: 12,
  out_channels: 12,
  block_out_channels: [24, 48],
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
  up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  layers_per_block: 1,
  norm_num_groups: 4,
  cross_attention_dim: 16,
  attention_head_dim: [2, 4],
  use_linear_projection: true,
  flip_sin_to_cos: false,
  freq_shift: 1,
  transformer_layers_per_block: [1, 2],
};

for (const [label, json] of [
  ['tiny cross-attention UNet', TINY_CROSS],
  ['SD-1.5-shaped UNet at small width', SD15_SHAPED],
  ['linear-projection UNet with per-block heads and 2 transformer layers', LINEAR_PROJ],
] as const) {
  test(`ONNX export matches tfjs: ${label}`, async () => {
    const c = unetCase(json as Record<string, unknown>, 3, 5, 11);
    const ref = tfjsUNet(c);
    const got = await onnxUNet(c, buildUNetGraph(c));
    assert.equal(got.length, ref.length);
    const err = relErr(got, ref);
    assert.ok(err <= 1e-4, `relative error ${err}`);
  });
}

test('padding mask changes the cross-attention result only through masked tokens', async () => {
  const c = unetCase(TINY_CROSS, 3, 5, 5);
  const base = tfjsUNet(c);
  // Perturb a token that is masked for sample 2 (it keeps 3 of 5 tokens): sample 2 is unchanged, sample 0 changes.
  const ctx = c.ctx.slice();
  const d = c.cfg.cross_attention_dim;
  for (const sampleIdx of [0, 2]) for (let k = 0; k < d; k++) ctx[(sampleIdx * c.m + 4) * d + k] += 3;
  const perturbed = await onnxUNet({ ...c, ctx }, buildUNetGraph(c));
  const per = perturbed.length / c.n;
  assert.ok(relErr(perturbed.subarray(2 * per, 3 * per), base.subarray(2 * per, 3 * per)) < 1e-4);
  assert.ok(relErr(perturbed.subarray(0, per), base.subarray(0, per)) > 1e-3);
});

test('per-sample LoRA inputs: each sample uses its own adapter, zero factors equal the base model', async () => {
  const c = unetCase(TINY_CROSS, 3, 5, 21);
  const modules = attentionProjectionModules(c.cfg);
  assert.ok(modules.includes('down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k'));
  const rng = new Random(99);
  const rank = 3;
  const feeds: Record<string, { data: Float32Array; dims: number[] }> = {};
  const tfLora = new Map<string, LoraFactors<tf.Tensor>>();
  for (const mod of modules) {
    const [out, inp] = c.params.get(`${mod}.weight`)!.shape;
    const a = rng.randn(c.n * rank * inp).map((v) => v * 0.3);
    const b = rng.randn(c.n * out * rank).map((v) => v * 0.3);
    // Sample 1 carries no adapter: its factors are zero.
    a.fill(0, rank * inp, 2 * rank * inp);
    b.fill(0, out * rank, 2 * out * rank);
    feeds[`lora.${mod}.a`] = { data: a, dims: [c.n, rank, inp] };
    feeds[`lora.${mod}.b`] = { data: b, dims: [c.n, out, rank] };
    tfLora.set(mod, { a: tf.tensor(a, [c.n, rank, inp]), b: tf.tensor(b, [c.n, out, rank]) });
  }
  const got = await onnxUNet(c, buildUNetGraph(c, modules), feeds);
  const ref = tfjsUNet(c, tfLora);
  assert.ok(relErr(got, ref) <= 1e-4, `relative error ${relErr(got, ref)}`);
  const base = tfjsUNet(c);
  const per = got.length / c.n;
  assert.ok(relErr(got.subarray(per, 2 * per), base.subarray(per, 2 * per)) <= 1e-5, 'zero adapter = base');
  assert.ok(relErr(got.subarray(0, per), base.subarray(0, per)) > 1e-3, 'adapter changes the output');
});

test('ONNX export matches tfjs: CLIP text encoder with causal and padding masks', async () => {
  for (const hidden_act of ['quick_gelu', 'gelu']) {
    const cfg = parseClipTextConfig({ vocab_size: 50, hidden_size: 16, intermediate_size: 40, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: 10, hidden_act });
    const params = initParams(clipTextParamShapes(cfg), 3, { randomNorms: true });
    const n = 2;
    const l = 7;
    const ids = Int32Array.from({ length: n * l }, (_, i) => (i * 7 + 3) % cfg.vocab_size);
    const mask = Float32Array.from({ length: n * l }, (_, i) => (i % l < (i < l ? 7 : 4) ? 1 : 0));
    const ref = tf.tidy(() => {
      const ops = new TfjsOps(tf, tfParams(params));
      return clipTextForward(ops, cfg, tf.tensor(ids, [n, l], 'int32'), tf.tensor(mask, [n, l])).dataSync() as Float32Array;
    });
    const g = new OnnxGraphOps({ params });
    const idsSym = g.input('input_ids', [-1, l], 'int64');
    const maskSym = g.input('attention_mask', [-1, l]);
    g.output(clipTextForward(g, cfg, idsSym, maskSym), 'last_hidden_state');
    const { session } = await createSession(encodeModel(g.toModel()), { executionProvider: 'cpu', intraOpThreads: 1 });
    const out = await run(session, {
      input_ids: { data: BigInt64Array.from(ids, (v) => BigInt(v)), dims: [n, l] },
      attention_mask: { data: mask, dims: [n, l] },
    });
    const err = relErr(out.last_hidden_state.data as Float32Array, ref);
    assert.ok(err <= 1e-4, `${hidden_act}: relative error ${err}`);
  }
});

/** Gradients of a weighted sum of outputs: ONNX backward graph vs tfjs autodiff. */
test('ONNX gradient graph matches tfjs autodiff for every UNet and text-encoder parameter', async () => {
  const c = unetCase({ ...TINY_CROSS, block_out_channels: [8, 16], norm_num_groups: 4 }, 2, 4, 31);
  const tcfg = parseClipTextConfig({ vocab_size: 20, hidden_size: c.cfg.cross_attention_dim, intermediate_size: 24, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 4 });
  const tparams = initParams(clipTextParamShapes(tcfg), 8, { randomNorms: true });
  const all: ParamMap = new Map([...c.params, ...tparams]);
  const names = [...all.keys()];
  const s = c.cfg.sample_size;
  const ids = Int32Array.from({ length: c.n * c.m }, (_, i) => (i * 5 + 1) % tcfg.vocab_size);
  const weights = new Random(4).randn(c.n * c.cfg.out_channels * s * s);

  const tfGrads = tf.tidy(() => {
    const vars = tfParams(all);
    const f = (...xs: tf.Tensor[]) => {
      const m = new Map(names.map((k, i) => [k, xs[i]]));
      const ops = new TfjsOps(tf, m);
      const ctx = clipTextForward(ops, tcfg, tf.tensor(ids, [c.n, c.m], 'int32'), null);
      const out = unetForward(ops, c.cfg, tf.tensor(c.sample, [c.n, c.cfg.in_channels, s, s]), tf.tensor(c.t, [c.n]), ctx, null);
      return tf.sum(tf.mul(out, tf.tensor(weights, out.shape))) as tf.Scalar;
    };
    return tf.grads(f)(names.map((k) => vars.get(k)!)).map((g) => g.dataSync() as Float32Array);
  });

  const g = new OnnxGraphOps({ params: all, trainableParams: () => true, differentiable: true });
  const idsSym = g.input('input_ids', [-1, c.m], 'int64');
  const sample = g.input('sample', [-1, c.cfg.in_channels, s, s]);
  const t = g.input('timestep', [-1]);
  const w = g.input('weights', [-1, c.cfg.out_channels, s, s]);
  const ctx = clipTextForward(g, tcfg, idsSym, null);
  const out = unetForward(g, c.cfg, sample, t, ctx, null);
  const loss = g.reduceSum(g.reshape(g.mul(out, w), [1, -1]), [0, 1]);
  const lossScalar = g.reshape(loss, []);
  const paramSyms = names.map((k) => g.param(k));
  const grads = g.gradients(lossScalar, paramSyms);
  grads.forEach((gr, i) => {
    assert.ok(gr, `no gradient for ${names[i]}`);
    g.output(gr as Sym, `grad.${names[i]}`);
  });
  const { session } = await createSession(encodeModel(g.toModel()), { executionProvider: 'cpu', intraOpThreads: 1 });
  const feeds: Record<string, { data: Float32Array | BigInt64Array; dims: number[] }> = {
    input_ids: { data: BigInt64Array.from(ids, (v) => BigInt(v)), dims: [c.n, c.m] },
    sample: { data: c.sample, dims: [c.n, c.cfg.in_channels, s, s] },
    timestep: { data: c.t, dims: [c.n] },
    weights: { data: weights, dims: [c.n, c.cfg.out_channels, s, s] },
  };
  for (const [k, v] of all) feeds[k] = { data: v.data, dims: v.shape };
  const res = await run(session, feeds);
  // Key-projection biases get a zero gradient (softmax is shift-invariant), so errors are measured
  // against the gradient scale of the whole model rather than per tensor.
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  const scale = Math.max(...tfGrads.map((g) => norm(g) / Math.sqrt(g.length)));
  names.forEach((k, i) => {
    const got = res[`grad.${k}`].data as Float32Array;
    const diff = norm(got.map((v, j) => v - tfGrads[i][j]));
    const err = diff / Math.max(norm(tfGrads[i]), 1e-4 * scale * Math.sqrt(got.length));
    if (process.env.DEBUG_GRADS) console.log(k, err, norm(tfGrads[i]));
    assert.ok(err <= 1e-3, `${k}: relative error ${err}`);
  });
  const kBias = tfGrads[names.indexOf('text_model.encoder.layers.0.self_attn.k_proj.bias')];
  assert.ok(norm(kBias) < 1e-4 * scale, 'key bias gradient vanishes');
});
