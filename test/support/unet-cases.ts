/** Small UNet cases and their two executors (tfjs eager, ONNX Runtime) shared by engine tests. */
import * as tf from '@tensorflow/tfjs';
import { TfjsOps } from '../../src/engine/graph/tfjs-ops';
import { OnnxGraphOps } from '../../src/engine/graph/onnx-graph-ops';
import { LoraFactors } from '../../src/engine/graph/ops';
import { encodeModel } from '../../src/engine/onnx/onnx-model';
import { createSession, run } from '../../src/engine/onnx/ort-session';
import { parseUNetConfig, UNetConfig } from '../../src/engine/models/unet-config';
import { unetParamShapes } from '../../src/engine/models/unet-params';
import { unetForward } from '../../src/engine/models/unet-2d-condition.model';
import { initParams, ParamMap } from '../../src/engine/models/param-init';
import { Random } from '../../src/engine/schedulers/random';

export { relErr } from './numerics';

export function tfParams(params: ParamMap): Map<string, tf.Tensor> {
  const m = new Map<string, tf.Tensor>();
  for (const [k, v] of params) m.set(k, tf.tensor(v.data, v.shape));
  return m;
}

export const TINY_CROSS = {
  sample_size: 8,
  in_channels: 4,
  out_channels: 4,
  block_out_channels: [16, 32],
  down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
  layers_per_block: 1,
  norm_num_groups: 8,
  cross_attention_dim: 12,
  attention_head_dim: 2,
};

export interface UNetCase {
  cfg: UNetConfig;
  params: ParamMap;
  sample: Float32Array;
  t: Float32Array;
  ctx: Float32Array;
  mask: Float32Array;
  n: number;
  m: number;
}

export function unetCase(json: Record<string, unknown>, n: number, m: number, seed: number): UNetCase {
  const cfg = parseUNetConfig(json);
  const params = initParams(unetParamShapes(cfg), seed, { randomNorms: true });
  const rng = new Random(seed + 1);
  const s = cfg.sample_size;
  const sample = rng.randn(n * cfg.in_channels * s * s);
  const t = Float32Array.from({ length: n }, (_, i) => 37 + 311 * i);
  const ctx = rng.randn(n * m * cfg.cross_attention_dim);
  // Sample i keeps its first m − i tokens: padding masks differ per sample.
  const mask = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m - i; j++) mask[i * m + j] = 1;
  return { cfg, params, sample, t, ctx, mask, n, m };
}

export function maskBias(mask: Float32Array, n: number, m: number): Float32Array {
  return Float32Array.from(mask, (v) => (1 - v) * -10000);
}

export function tfjsUNet(c: UNetCase, lora?: Map<string, LoraFactors<tf.Tensor>>): Float32Array {
  return tf.tidy(() => {
    const ops = new TfjsOps(tf, tfParams(c.params), lora);
    const s = c.cfg.sample_size;
    const out = unetForward(
      ops,
      c.cfg,
      tf.tensor(c.sample, [c.n, c.cfg.in_channels, s, s]),
      tf.tensor(c.t, [c.n]),
      tf.tensor(c.ctx, [c.n, c.m, c.cfg.cross_attention_dim]),
      tf.tensor(maskBias(c.mask, c.n, c.m), [c.n, 1, 1, c.m]),
    );
    return out.dataSync() as Float32Array;
  });
}

export function buildUNetGraph(c: UNetCase, loraModules?: string[]): OnnxGraphOps {
  const g = new OnnxGraphOps({ params: c.params, lora: loraModules ? { modules: loraModules, perSample: true, trainable: false } : undefined });
  const s = c.cfg.sample_size;
  const sample = g.input('sample', [-1, c.cfg.in_channels, s, s]);
  const t = g.input('timestep', [-1]);
  const ctx = g.input('encoder_hidden_states', [-1, c.m, c.cfg.cross_attention_dim]);
  const mask = g.input('encoder_attention_mask', [-1, c.m]);
  const bias = g.reshape(g.scale(g.addScalar(g.scale(mask, -1), 1), -10000), [-1, 1, 1, c.m]);
  g.output(unetForward(g, c.cfg, sample, t, ctx, bias), 'out_sample');
  return g;
}

export async function onnxUNet(c: UNetCase, g: OnnxGraphOps, extraFeeds: Record<string, { data: Float32Array; dims: number[] }> = {}): Promise<Float32Array> {
  const { session } = await createSession(encodeModel(g.toModel()), { executionProvider: 'cpu', intraOpThreads: 1 });
  const s = c.cfg.sample_size;
  const out = await run(session, {
    sample: { data: c.sample, dims: [c.n, c.cfg.in_channels, s, s] },
    timestep: { data: c.t, dims: [c.n] },
    encoder_hidden_states: { data: c.ctx, dims: [c.n, c.m, c.cfg.cross_attention_dim] },
    encoder_attention_mask: { data: c.mask, dims: [c.n, c.m] },
    ...extraFeeds,
  });
  return out.out_sample.data as Float32Array;
}

