/**
 * LoRA adapter tests: peft init, the diffusers/peft file format (and the other namings we import),
 * validation, per-sample batch packing and the training-graph factor mapping. Reference values are
 * computed here with plain loops, never with the code under test.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { roundToF16, f32ArrayToBf16Bits, bf16BitsToF32Array } from '../../src/engine/io/float16';
import { parseSafetensors, serializeSafetensors, type NamedTensor } from '../../src/engine/io/safetensors';
import type { WritableDType } from '../../src/engine/io/safetensors-dtype';
import { Random } from '../../src/engine/schedulers/random';
import {
  adapterFromLayers,
  createLoraAdapter,
  effectiveScale,
  LoraError,
  validateAgainst,
  type LoraAdapter,
  type LoraLayer,
  type ModuleShape,
} from '../../src/engine/lora/lora-adapter';
import { guessKohyaModule, kohyaLoraName, KohyaNameIndex } from '../../src/engine/lora/lora-key-format';
import { parseAdapterConfigJson } from '../../src/engine/lora/peft-config';
import { loraAdapterFromTensors, parseLoraAdapter, readLoraFile } from '../../src/engine/lora/lora-file.reader';
import { serializeLoraAdapter, writeLoraFile } from '../../src/engine/lora/lora-file.writer';
import { buildSafetensors, peftLora } from '../support/safetensors';
import { relErr } from '../support/numerics';
import { activeAdaptersByTimestep, invalidateLoraPackCache, mergedDelta, packLoraBatch, type AdapterUse } from '../../src/engine/lora/lora-batch.packer';
import {
  adapterFromTrainingFeeds,
  loraGradientsToAdapter,
  loraParameterViews,
  loraTrainingFeeds,
  trainingFactorShapes,
} from '../../src/engine/lora/lora-training-factors';

// ---- fixtures ---------------------------------------------------------------------------------

const Q = 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q';
const OUT0 = 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0';
const K2 = 'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k';
const FF = 'mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj';
const PROJ_IN = 'up_blocks.1.attentions.2.proj_in';

const SHAPES = new Map<string, ModuleShape>([
  [Q, [8, 8]],
  [OUT0, [8, 8]],
  [K2, [8, 6]],
  [FF, [16, 8]],
  [PROJ_IN, [8, 8]],
]);
const MODULES = [...SHAPES.keys()];

function randomArray(rng: Random, n: number): Float32Array {
  return rng.randn(n);
}

function randomLayer(rng: Random, shape: ModuleShape, rank: number, alpha: number): LoraLayer {
  const [out, inp] = shape;
  return { a: randomArray(rng, rank * inp), b: randomArray(rng, out * rank), rank, inFeatures: inp, outFeatures: out, alpha };
}

function randomAdapter(seed: number, modules: string[], rank: number, alpha: number, shapes = SHAPES): LoraAdapter {
  const rng = new Random(seed);
  const layers = new Map<string, LoraLayer>();
  for (const m of modules) layers.set(m, randomLayer(rng, shapes.get(m)!, rank, alpha));
  return adapterFromLayers(layers);
}

function t(shape: number[], data: Float32Array | number[]): NamedTensor {
  return { shape, data: data instanceof Float32Array ? data : Float32Array.from(data) };
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= tol * (1 + Math.abs(expected[i])))) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

function assertLoraError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof LoraError, `expected LoraError, got ${String(e)}`);
    assert.match((e as Error).message, pattern);
    return true;
  });
}

// y[n, o] = Σ_j (Σ_i x[n,i]·A[j,i]) · B[o,j], the LoRA path of one layer without scale.
function loraPath(x: Float64Array, n: number, inp: number, A: ArrayLike<number>, B: ArrayLike<number>, r: number, out: number): Float64Array {
  const y = new Float64Array(n * out);
  for (let s = 0; s < n; s++) {
    const h = new Float64Array(r);
    for (let j = 0; j < r; j++) for (let i = 0; i < inp; i++) h[j] += x[s * inp + i] * A[j * inp + i];
    for (let o = 0; o < out; o++) for (let j = 0; j < r; j++) y[s * out + o] += h[j] * B[o * r + j];
  }
  return y;
}

/** ΔW = B·A as a [out, in] matrix, in float64. */
function delta(b: ArrayLike<number>, a: ArrayLike<number>, out: number, rank: number, inp: number): Float64Array {
  const d = new Float64Array(out * inp);
  for (let o = 0; o < out; o++) for (let j = 0; j < rank; j++) for (let i = 0; i < inp; i++) d[o * inp + i] += b[o * rank + j] * a[j * inp + i];
  return d;
}

// ---- creation ---------------------------------------------------------------------------------

describe('createLoraAdapter (peft default init)', () => {
  const big = new Map<string, ModuleShape>([['mid_block.attentions.0.transformer_blocks.0.attn1.to_q', [64, 64]], ['x.to_k', [32, 48]]]);

  it('B is zero, A ~ U(±1/√in), scale alpha/rank', () => {
    const ad = createLoraAdapter(big, { rank: 16, alpha: 8, seed: 7, init: 'peft-default' });
    assert.deepEqual(ad.targetModules, ['mid_block.attentions.0.transformer_blocks.0.attn1.to_q', 'x.to_k']);
    assert.equal(ad.rank, 16);
    assert.equal(ad.alpha, 8);
    for (const [m, l] of ad.layers) {
      const [out, inp] = big.get(m)!;
      assert.equal(l.a.length, 16 * inp);
      assert.equal(l.b.length, out * 16);
      assert.ok(l.b.every((v) => v === 0), 'B must start at zero');
      const bound = 1 / Math.sqrt(inp);
      assert.ok(l.a.every((v) => Math.abs(v) <= bound), 'A within the kaiming-uniform bound');
      // U(-b, b): mean 0, variance b²/3.
      let mean = 0;
      for (const v of l.a) mean += v;
      mean /= l.a.length;
      let variance = 0;
      for (const v of l.a) variance += (v - mean) ** 2;
      variance /= l.a.length;
      assert.ok(Math.abs(mean) < 0.1 * bound, `mean ${mean}`);
      assert.ok(Math.abs(variance / (bound * bound / 3) - 1) < 0.15, `variance ratio ${variance / (bound * bound / 3)}`);
      // Both halves of the interval are used.
      assert.ok(Math.max(...l.a) > 0.9 * bound && Math.min(...l.a) < -0.9 * bound);
      assert.equal(effectiveScale(l), 8 / 16);
    }
  });

  it('is deterministic under a seed', () => {
    const a = createLoraAdapter(big, { rank: 4, alpha: 4, seed: 123, init: 'peft-default' });
    const b = createLoraAdapter(big, { rank: 4, alpha: 4, seed: 123, init: 'peft-default' });
    const c = createLoraAdapter(big, { rank: 4, alpha: 4, seed: 124, init: 'peft-default' });
    for (const m of a.targetModules) {
      assert.deepEqual(a.layers.get(m)!.a, b.layers.get(m)!.a);
      assert.notDeepEqual(a.layers.get(m)!.a, c.layers.get(m)!.a);
    }
  });

  it('rejects bad options', () => {
    assertLoraError(() => createLoraAdapter(big, { rank: 0, seed: 1 }), /rank/);
    assertLoraError(() => createLoraAdapter(big, { rank: 2, alpha: Number.NaN, seed: 1 }), /alpha/);
    assertLoraError(() => createLoraAdapter(big, { rank: 2, seed: 1, targetModules: ['nope'] }), /not in the base model/);
  });
});

// ---- files ------------------------------------------------------------------------------------

describe('LoRA files: writing (diffusers/peft naming)', () => {
  it('round-trips F32 exactly, with keys, rank, alpha and metadata', async () => {
    const ad = randomAdapter(1, [Q, K2, FF], 4, 4);
    ad.metadata = { brand: 'openmoji', 'trained.steps': '1200' };
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'lora-test-'));
    try {
      const file = path.join(dir, 'pytorch_lora_weights.safetensors');
      await writeLoraFile(file, ad);
      const raw = parseSafetensors(await fsp.readFile(file));
      assert.deepEqual([...raw.tensors.keys()].sort(), [
        `unet.${K2}.lora_A.weight`, `unet.${K2}.lora_B.weight`,
        `unet.${Q}.lora_A.weight`, `unet.${Q}.lora_B.weight`,
        `unet.${FF}.lora_A.weight`, `unet.${FF}.lora_B.weight`,
      ].sort());
      assert.deepEqual(raw.tensors.get(`unet.${FF}.lora_A.weight`)!.shape, [4, 8]);
      assert.deepEqual(raw.tensors.get(`unet.${FF}.lora_B.weight`)!.shape, [16, 4]);
      assert.deepEqual(raw.tensors.get(`unet.${K2}.lora_A.weight`)!.shape, [4, 6]);
      assert.equal(raw.metadata.format, 'pt');
      assert.equal(raw.metadata.rank, '4');
      assert.equal(raw.metadata.alpha, '4');
      assert.equal(raw.metadata.brand, 'openmoji');
      // diffusers' pipeline-level layout: config fields prefixed with the component name.
      assert.deepEqual(JSON.parse(raw.metadata.lora_adapter_metadata), {
        'unet.lora_alpha': 4,
        'unet.peft_type': 'LORA',
        'unet.r': 4,
        'unet.target_modules': [Q, K2, FF].sort(),
      });
      assert.match(raw.metadata.lora_adapter_metadata, /^\{\n {2}"unet\.lora_alpha": 4,\n/);

      const back = await readLoraFile(file, { moduleShapes: SHAPES });
      assert.equal(back.format, 'peft');
      assert.deepEqual(back.ignoredKeys, []);
      assert.deepEqual(back.unrecordedAlpha, []);
      assert.equal(back.adapter.rank, 4);
      assert.equal(back.adapter.alpha, 4);
      assert.deepEqual(back.adapter.targetModules, [Q, K2, FF].sort());
      assert.deepEqual(back.adapter.metadata, { brand: 'openmoji', 'trained.steps': '1200' });
      for (const m of ad.targetModules) {
        const x = ad.layers.get(m)!;
        const y = back.adapter.layers.get(m)!;
        assert.deepEqual(y.a, x.a);
        assert.deepEqual(y.b, x.b);
        assert.deepEqual([y.rank, y.inFeatures, y.outFeatures, y.alpha], [x.rank, x.inFeatures, x.outFeatures, x.alpha]);
      }
      assert.deepEqual((await fsp.readdir(dir)).sort(), ['pytorch_lora_weights.safetensors']);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  it('round-trips F16 (values rounded to fp16) and per-layer ranks via rank_pattern/alpha_pattern', () => {
    const rng = new Random(2);
    const layers = new Map<string, LoraLayer>([
      [Q, randomLayer(rng, SHAPES.get(Q)!, 4, 4)],
      [OUT0, randomLayer(rng, SHAPES.get(OUT0)!, 4, 4)],
      [FF, randomLayer(rng, SHAPES.get(FF)!, 2, 1)],
    ]);
    const ad = adapterFromLayers(layers, { note: 'f16' });
    const buf = serializeLoraAdapter(ad, { dtype: 'F16' });
    const raw = parseSafetensors(buf);
    assert.ok([...raw.dtypes.values()].every((d) => d === 'F16'));
    const cfg = JSON.parse(raw.metadata.lora_adapter_metadata);
    assert.equal(cfg['unet.r'], 4);
    assert.equal(cfg['unet.lora_alpha'], 4);
    assert.deepEqual(cfg['unet.rank_pattern'], { [FF]: 2 });
    assert.deepEqual(cfg['unet.alpha_pattern'], { [FF]: 2 }, 'alpha folded into lora_B: alpha = rank on every layer');

    const back = parseLoraAdapter(buf, { moduleShapes: SHAPES });
    assert.equal(back.adapter.rank, 4);
    assert.equal(back.adapter.alpha, 4);
    assert.deepEqual(back.adapter.metadata, { note: 'f16' });
    for (const [m, x] of layers) {
      const y = back.adapter.layers.get(m)!;
      assert.deepEqual(y.a, roundToF16(x.a));
      // Scaling by a power of two commutes with rounding to fp16.
      assert.deepEqual(y.b, roundToF16(x.b.map((v) => v * (x.alpha / x.rank))));
      assert.equal(y.rank, x.rank);
      assert.equal(y.alpha, x.rank);
    }
  });

  it('folds alpha/rank into lora_B and records alpha = rank: a loader applying scale 1 gets the same ΔW', () => {
    const rng = new Random(21);
    const layers = new Map<string, LoraLayer>([
      [Q, randomLayer(rng, SHAPES.get(Q)!, 4, 8)],
      [K2, randomLayer(rng, SHAPES.get(K2)!, 4, 8)],
      [FF, randomLayer(rng, SHAPES.get(FF)!, 2, 3)],
    ]);
    const ad = adapterFromLayers(layers);
    const before = [...layers.values()].map((l) => Float32Array.from(l.b));
    const buf = serializeLoraAdapter(ad);
    assert.deepEqual([...layers.values()].map((l) => l.b), before, 'the adapter in memory is left as it was');
    const raw = parseSafetensors(buf);
    assert.equal(raw.metadata.alpha, raw.metadata.rank);
    const cfg = JSON.parse(raw.metadata.lora_adapter_metadata);
    assert.deepEqual([cfg['unet.r'], cfg['unet.lora_alpha']], [4, 4]);
    assert.deepEqual(cfg['unet.alpha_pattern'], cfg['unet.rank_pattern']);
    const back = parseLoraAdapter(buf, { moduleShapes: SHAPES }).adapter;
    const scale = 0.7;
    for (const [m, l] of layers) {
      const expected = delta(l.b, l.a, l.outFeatures, l.rank, l.inFeatures).map((v) => scale * (l.alpha / l.rank) * v);
      // diffusers 0.27 and peft without adapter_config.json: the file's factors at scale 1.
      const b = raw.tensors.get(`unet.${m}.lora_B.weight`)!.data;
      const a = raw.tensors.get(`unet.${m}.lora_A.weight`)!.data;
      assert.ok(relErr(delta(b, a, l.outFeatures, l.rank, l.inFeatures).map((v) => scale * v), expected) < 1e-6, `${m}: file factors`);
      // The engine's reader: alpha = rank, so effectiveScale 1.
      const y = back.layers.get(m)!;
      assert.equal(y.alpha, y.rank);
      assert.ok(relErr(delta(y.b, y.a, y.outFeatures, y.rank, y.inFeatures).map((v) => scale * effectiveScale(y) * v), expected) < 1e-6, `${m}: read back`);
    }
  });
});

describe('LoRA files: reading other namings', () => {
  const rng = new Random(3);
  const A = randomArray(rng, 2 * 8);
  const B = randomArray(rng, 8 * 2);
  const A2 = randomArray(rng, 3 * 6);
  const B2 = randomArray(rng, 8 * 3);

  it('peft keys without the unet. prefix and no metadata: alpha defaults to rank, and is reported unrecorded', () => {
    const buf = serializeSafetensors({ [`${Q}.lora_A.weight`]: t([2, 8], A), [`${Q}.lora_B.weight`]: t([8, 2], B) });
    const { adapter, format, unrecordedAlpha } = parseLoraAdapter(buf);
    assert.equal(format, 'peft');
    assert.deepEqual(unrecordedAlpha, [Q]);
    const l = adapter.layers.get(Q)!;
    assert.deepEqual([l.rank, l.inFeatures, l.outFeatures, l.alpha], [2, 8, 8, 2]);
    assert.deepEqual(l.a, A);
    assert.deepEqual(l.b, B);
  });

  it('peft base_model.model. prefix with an unprefixed (model-level) lora_adapter_metadata', () => {
    const buf = serializeSafetensors(
      {
        [`base_model.model.${Q}.lora_A.weight`]: t([2, 8], A),
        [`base_model.model.${Q}.lora_B.weight`]: t([8, 2], B),
        [`base_model.model.${K2}.lora_A.weight`]: t([3, 6], A2),
        [`base_model.model.${K2}.lora_B.weight`]: t([8, 3], B2),
      },
      { metadata: { format: 'pt', lora_adapter_metadata: JSON.stringify({ r: 2, lora_alpha: 5, rank_pattern: { [`^${K2}`]: 3 }, alpha_pattern: { 'attn2.to_k': 6 }, peft_type: 'LORA' }) } },
    );
    const { adapter } = parseLoraAdapter(buf, { moduleShapes: SHAPES });
    assert.equal(adapter.layers.get(Q)!.alpha, 5);
    assert.equal(adapter.layers.get(K2)!.alpha, 6);
    assert.equal(adapter.layers.get(K2)!.rank, 3);
    assert.deepEqual(adapter.metadata, {});
  });

  it('use_rslora is converted to the equivalent alpha·√r', () => {
    const buf = serializeSafetensors(
      { [`unet.${Q}.lora_A.weight`]: t([2, 8], A), [`unet.${Q}.lora_B.weight`]: t([8, 2], B) },
      { metadata: { lora_adapter_metadata: JSON.stringify({ 'unet.r': 2, 'unet.lora_alpha': 3, 'unet.use_rslora': true }) } },
    );
    const l = parseLoraAdapter(buf).adapter.layers.get(Q)!;
    assert.ok(Math.abs(effectiveScale(l) - 3 / Math.sqrt(2)) < 1e-12);
  });

  it('legacy diffusers lora.down/lora.up keys with network alphas, and attention-processor keys', () => {
    const buf = serializeSafetensors({
      [`unet.${Q}.lora.down.weight`]: t([2, 8], A),
      [`unet.${Q}.lora.up.weight`]: t([8, 2], B),
      [`unet.${Q}.alpha`]: t([], [1.5]),
      'down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_out_lora.down.weight': t([2, 8], A),
      'down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_out_lora.up.weight': t([8, 2], B),
    });
    const { adapter, format, unrecordedAlpha } = parseLoraAdapter(buf, { moduleShapes: SHAPES });
    assert.equal(format, 'diffusers-legacy');
    assert.deepEqual(unrecordedAlpha, [], 'legacy diffusers without network alphas means scale 1');
    assert.deepEqual(adapter.targetModules, [Q, OUT0].sort());
    assert.equal(adapter.layers.get(Q)!.alpha, 1.5);
    assert.equal(adapter.layers.get(OUT0)!.alpha, 2);
    assert.deepEqual(adapter.layers.get(OUT0)!.b, B);
  });

  it('kohya keys: names resolved against the base model, per-layer alphas, 1×1 kernels, text encoder ignored', () => {
    const buf = serializeSafetensors(
      {
        [`${kohyaLoraName(Q)}.lora_down.weight`]: t([2, 8], A),
        [`${kohyaLoraName(Q)}.lora_up.weight`]: t([8, 2], B),
        [`${kohyaLoraName(Q)}.alpha`]: t([], [1]),
        // proj_in trained as a 1×1 convolution; alpha 0 means alpha = rank in kohya.
        [`${kohyaLoraName(PROJ_IN)}.lora_down.weight`]: t([2, 8, 1, 1], A),
        [`${kohyaLoraName(PROJ_IN)}.lora_up.weight`]: t([8, 2, 1, 1], B),
        [`${kohyaLoraName(PROJ_IN)}.alpha`]: t([1], [0]),
        [`${kohyaLoraName(K2)}.lora_down.weight`]: t([3, 6], A2),
        [`${kohyaLoraName(K2)}.lora_up.weight`]: t([8, 3], B2),
        'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight': t([2, 4], [0, 0, 0, 0, 0, 0, 0, 0]),
        'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight': t([4, 2], [0, 0, 0, 0, 0, 0, 0, 0]),
        'lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha': t([], [2]),
      },
      { metadata: { ss_network_dim: '2', ss_network_alpha: '4' } },
    );
    const { adapter, format, ignoredKeys, unrecordedAlpha } = parseLoraAdapter(buf, { moduleShapes: SHAPES });
    assert.equal(format, 'kohya');
    assert.deepEqual(unrecordedAlpha, []);
    assert.deepEqual(adapter.targetModules, [Q, K2, PROJ_IN].sort());
    assert.equal(adapter.layers.get(Q)!.alpha, 1);
    assert.equal(adapter.layers.get(PROJ_IN)!.alpha, 2);
    assert.equal(adapter.layers.get(K2)!.alpha, 4, 'missing alpha tensor falls back to ss_network_alpha');
    assert.equal(ignoredKeys.length, 3);
    assert.ok(ignoredKeys.every((k) => k.startsWith('lora_te_')));
    assert.deepEqual(adapter.metadata, { ss_network_dim: '2' }, 'alpha metadata is consumed: written files record alpha = rank');
  });

  it('diffusers text_encoder.* keys are listed as ignored', () => {
    const buf = serializeSafetensors({
      [`unet.${Q}.lora_A.weight`]: t([2, 8], A),
      [`unet.${Q}.lora_B.weight`]: t([8, 2], B),
      'text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight': t([2, 4], new Float32Array(8)),
      'text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight': t([4, 2], new Float32Array(8)),
    });
    const { adapter, ignoredKeys } = parseLoraAdapter(buf);
    assert.deepEqual(adapter.targetModules, [Q]);
    assert.deepEqual(ignoredKeys.sort(), [
      'text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight',
      'text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight',
    ]);
  });

  for (const dtype of ['F16', 'BF16'] as WritableDType[]) {
    it(`reads ${dtype} tensors`, () => {
      const buf = serializeSafetensors({ [`unet.${Q}.lora_A.weight`]: t([2, 8], A), [`unet.${Q}.lora_B.weight`]: t([8, 2], B) }, { dtype });
      const l = parseLoraAdapter(buf).adapter.layers.get(Q)!;
      const expect = dtype === 'F16' ? roundToF16(A) : bf16BitsToF32Array(f32ArrayToBf16Bits(A));
      assert.deepEqual(l.a, expect);
    });
  }
});

describe('LoRA files: key styles and where alpha comes from', () => {
  const PEFT_Q = 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q';

  it('plain rank/alpha or lora_alpha metadata', () => {
    for (const metadata of [{ format: 'pt', rank: '4', lora_alpha: '8' }, { alpha: '8' }] as Record<string, string>[]) {
      const { adapter, format, unrecordedAlpha } = parseLoraAdapter(peftLora(4, metadata));
      assert.deepEqual([format, adapter.layers.size, adapter.rank, adapter.alpha, unrecordedAlpha.length], ['peft', 2, 4, 8, 0]);
    }
  });

  it('an unprefixed lora_adapter_metadata, or the rank from the tensors and alpha unrecorded', () => {
    const nested = parseLoraAdapter(peftLora(8, { lora_adapter_metadata: JSON.stringify({ r: 8, lora_alpha: 16, target_modules: ['to_q'] }) }));
    assert.deepEqual([nested.adapter.rank, nested.adapter.alpha, nested.unrecordedAlpha.length], [8, 16, 0]);
    const bare = parseLoraAdapter(peftLora(2));
    assert.deepEqual([bare.adapter.rank, bare.adapter.alpha], [2, 2]);
    assert.equal(bare.unrecordedAlpha.length, 2);
  });

  it("peft's adapter_config.json sent beside the weights gives alpha, patterns included, over the file's metadata", () => {
    const config = parseAdapterConfigJson(JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, alpha_pattern: { 'attn1.to_k': 2 }, target_modules: ['to_q', 'to_k'], base_model_name_or_path: 'x' }));
    const file = parseSafetensors(peftLora(4, { lora_adapter_metadata: JSON.stringify({ r: 4, lora_alpha: 1 }) }));
    const { adapter, unrecordedAlpha } = loraAdapterFromTensors(file.tensors, file.metadata, { peftConfig: config });
    assert.equal(adapter.layers.get(PEFT_Q)!.alpha, 8);
    assert.equal(adapter.layers.get(PEFT_Q.replace(/to_q$/, 'to_k'))!.alpha, 2);
    assert.deepEqual(unrecordedAlpha, []);
    const mismatch = parseAdapterConfigJson('{"r": 2, "lora_alpha": 4}');
    assertLoraError(() => loraAdapterFromTensors(file.tensors, file.metadata, { peftConfig: mismatch }), /adapter_config\.json gives rank 2, but the tensors have rank 4/);
  });

  it('refuses adapter_config.json that is not a peft LoRA config', () => {
    assertLoraError(() => parseAdapterConfigJson('{"r": 4,'), /adapter_config\.json is not valid JSON/);
    assertLoraError(() => parseAdapterConfigJson('[4]'), /adapter_config\.json is not a JSON object/);
    assertLoraError(() => parseAdapterConfigJson('{"peft_type": "LOHA"}'), /adapter_config\.json: peft_type "LOHA" is not LORA/);
    assertLoraError(() => parseAdapterConfigJson('{"r": 4, "lora_alpha": 0}'), /adapter_config\.json: lora_alpha 0 is not a positive number/);
    assertLoraError(() => parseAdapterConfigJson('{"r": 4, "use_dora": true}'), /DoRA/);
  });

  it('kohya alpha scalars win over ss_network_alpha; alpha 0 means alpha = rank', () => {
    const file = buildSafetensors(
      {
        'lora_unet_mid_block_attentions_0_proj_in.lora_down.weight': [4, 16],
        'lora_unet_mid_block_attentions_0_proj_in.lora_up.weight': [16, 4],
        // The fixture's ramp starts at 0: a zero alpha scalar.
        'lora_unet_mid_block_attentions_0_proj_in.alpha': [],
      },
      { ss_network_dim: '4', ss_network_alpha: '2' },
    );
    const { adapter, format } = parseLoraAdapter(file);
    assert.equal(format, 'kohya');
    assert.deepEqual([...adapter.layers.keys()], ['mid_block.attentions.0.proj_in']);
    assert.deepEqual([adapter.rank, adapter.alpha], [4, 4]);
  });

  it('peft keys carrying an adapter name', () => {
    const file = buildSafetensors({ 'unet.conv_in.lora_A.default.weight': [2, 8], 'unet.conv_in.lora_B.default.weight': [8, 2] });
    assert.deepEqual([...parseLoraAdapter(file).adapter.layers.keys()], ['conv_in']);
  });

  it('refuses files that are not LoRA adapters, or mix key styles', () => {
    assertLoraError(() => parseLoraAdapter(buildSafetensors({ 'unet.conv_in.weight': [8, 4, 3, 3] })), /"unet\.conv_in\.weight" is not a LoRA tensor/);
    assertLoraError(() => parseLoraAdapter(buildSafetensors({ 'unet.conv_in.lora_A.weight': [2, 8] })), /has no matching B/);
    assertLoraError(() => parseLoraAdapter(buildSafetensors({ 'm.lora_A.weight': [2, 8], 'm.lora_B.weight': [8, 3] })), /rank mismatch/);
    assertLoraError(() => parseLoraAdapter(buildSafetensors({})), /no LoRA weights found/);
    const mixed = buildSafetensors({ 'unet.conv_in.lora_A.weight': [2, 8], 'unet.conv_in.lora_B.weight': [8, 2], 'lora_unet_conv_out.lora_down.weight': [2, 8], 'lora_unet_conv_out.lora_up.weight': [8, 2] });
    assertLoraError(() => parseLoraAdapter(mixed), /mixes LoRA key styles \(kohya, peft\)/);
  });
});

describe('kohya name resolution', () => {
  it('maps kohya names back to module paths only through the known modules', () => {
    const index = new KohyaNameIndex(MODULES);
    for (const m of MODULES) assert.deepEqual(index.resolve(kohyaLoraName(m)), { module: m });
    const miss = index.resolve('lora_unet_down_blocks_9_attentions_0_proj_in');
    assert.ok('error' in miss && /matches no linear or convolution layer/.test(miss.error));
  });

  it('reports ambiguous names', () => {
    const index = new KohyaNameIndex(['blocks.a_b.to_q', 'blocks.a.b_to.q', 'blocks.a.b.to_q']);
    const r = index.resolve('lora_unet_blocks_a_b_to_q');
    assert.ok('error' in r && /ambiguous/.test(r.error));
  });

  it('guesses diffusers paths when no model is at hand', () => {
    for (const m of [Q, OUT0, K2, FF, PROJ_IN, 'down_blocks.1.resnets.0.time_emb_proj', 'time_embedding.linear_1']) {
      assert.equal(guessKohyaModule(kohyaLoraName(m)), m);
    }
  });

  it('an unresolvable kohya key is an error', () => {
    const buf = serializeSafetensors({
      'lora_unet_down_blocks_7_attentions_0_proj_in.lora_down.weight': t([1, 8], new Float32Array(8)),
      'lora_unet_down_blocks_7_attentions_0_proj_in.lora_up.weight': t([8, 1], new Float32Array(8)),
    });
    assertLoraError(() => parseLoraAdapter(buf, { moduleShapes: SHAPES }), /matches no linear or convolution layer/);
  });
});

describe('LoRA files: validation errors', () => {
  const A = new Float32Array(16).fill(0.1);
  const B = new Float32Array(16).fill(0.2);

  it('shape mismatch against the base model', () => {
    const buf = serializeSafetensors({ [`unet.${K2}.lora_A.weight`]: t([2, 8], A), [`unet.${K2}.lora_B.weight`]: t([8, 2], B) });
    assert.ok(parseLoraAdapter(buf).adapter.layers.has(K2), 'fine without a base model');
    assertLoraError(() => parseLoraAdapter(buf, { moduleShapes: SHAPES }), /attn2\.to_k: adapter is for a \[8, 8\] weight, the base model's is \[8, 6\]/);
  });

  it('a module the base model does not have', () => {
    const ad = randomAdapter(4, [Q], 2, 2);
    assertLoraError(() => validateAgainst(ad, new Map([[OUT0, [8, 8]]])), /has no linear or convolution layer of that name/);
  });

  it('missing B', () => {
    const buf = serializeSafetensors({ [`unet.${Q}.lora_A.weight`]: t([2, 8], A) });
    assertLoraError(() => parseLoraAdapter(buf), /has no matching B/);
  });

  it('rank mismatch between A and B', () => {
    const buf = serializeSafetensors({ [`unet.${Q}.lora_A.weight`]: t([2, 8], A), [`unet.${Q}.lora_B.weight`]: t([4, 4], B) });
    assertLoraError(() => parseLoraAdapter(buf), /rank mismatch/);
  });

  it('rank disagreeing with lora_adapter_metadata', () => {
    const buf = serializeSafetensors(
      { [`unet.${Q}.lora_A.weight`]: t([2, 8], A), [`unet.${Q}.lora_B.weight`]: t([8, 2], B) },
      { metadata: { lora_adapter_metadata: JSON.stringify({ 'unet.r': 4, 'unet.lora_alpha': 4 }) } },
    );
    assertLoraError(() => parseLoraAdapter(buf), /metadata gives rank 4, but the tensors have rank 2/);
  });

  it('unreadable or non-LoRA lora_adapter_metadata', () => {
    const tensors = { [`unet.${Q}.lora_A.weight`]: t([2, 8], A), [`unet.${Q}.lora_B.weight`]: t([8, 2], B) };
    assertLoraError(() => parseLoraAdapter(serializeSafetensors(tensors, { metadata: { lora_adapter_metadata: '{"unet.r": 2,' } })), /not valid JSON/);
    const loha = JSON.stringify({ 'unet.r': 2, 'unet.peft_type': 'LOHA' });
    assertLoraError(() => parseLoraAdapter(serializeSafetensors(tensors, { metadata: { lora_adapter_metadata: loha } })), /peft_type "LOHA" is not LORA/);
  });

  it('non-finite values (NaN, and fp16 overflow to inf)', () => {
    const bad = Float32Array.from(A);
    bad[3] = Number.NaN;
    const nan = serializeSafetensors({ [`unet.${Q}.lora_A.weight`]: t([2, 8], bad), [`unet.${Q}.lora_B.weight`]: t([8, 2], B) });
    assertLoraError(() => parseLoraAdapter(nan), /lora_A\.weight": non-finite value NaN at index 3/);
    const big = Float32Array.from(B);
    big[5] = 1e6;
    const inf = serializeSafetensors({ [`unet.${Q}.lora_A.weight`]: t([2, 8], A), [`unet.${Q}.lora_B.weight`]: t([8, 2], big) }, { dtype: 'F16' });
    assertLoraError(() => parseLoraAdapter(inf), /non-finite value Infinity at index 5/);
  });

  it('unknown (non-LoRA) keys, DoRA and LoRA bias keys', () => {
    const base = { [`unet.${Q}.lora_A.weight`]: t([2, 8], A), [`unet.${Q}.lora_B.weight`]: t([8, 2], B) };
    const unknown = serializeSafetensors({ ...base, 'down_blocks.0.resnets.0.conv1.weight': t([2, 2], [1, 2, 3, 4]) });
    assertLoraError(() => parseLoraAdapter(unknown), /"down_blocks\.0\.resnets\.0\.conv1\.weight" is not a LoRA tensor/);
    const dora = serializeSafetensors({ ...base, [`unet.${Q}.lora_magnitude_vector`]: t([8], new Float32Array(8)) });
    assertLoraError(() => parseLoraAdapter(dora), /DoRA/);
    const bias = serializeSafetensors({ ...base, [`unet.${Q}.lora_B.bias`]: t([8], new Float32Array(8)) });
    assertLoraError(() => parseLoraAdapter(bias), /bias/);
  });

  it('only text-encoder weights, or nothing at all', () => {
    const te = serializeSafetensors({ 'text_encoder.x.lora_A.weight': t([1, 2], [1, 2]), 'text_encoder.x.lora_B.weight': t([2, 1], [1, 2]) });
    assertLoraError(() => parseLoraAdapter(te), /no UNet LoRA weights \(only 2 text-encoder keys\)/);
    assertLoraError(() => parseLoraAdapter(serializeSafetensors({})), /no LoRA weights found/);
  });

  it('lists several problems in one error', () => {
    const buf = serializeSafetensors({
      [`unet.${Q}.lora_A.weight`]: t([2, 8], A),
      [`unet.${OUT0}.lora_B.weight`]: t([8, 2], B),
      junk: t([1], [0]),
    });
    assertLoraError(() => parseLoraAdapter(buf), /"junk" is not a LoRA tensor/);
    assertLoraError(() => parseLoraAdapter(buf), /to_q: .* has no matching B/);
    assertLoraError(() => parseLoraAdapter(buf), /to_out\.0: .* has no matching A/);
  });
});

// ---- batch packing ----------------------------------------------------------------------------

describe('packLoraBatch', () => {
  it('(a) ranks 2 and 4 and no adapter: shapes, zero padding, folded scales, untargeted modules', () => {
    const ad2 = randomAdapter(10, [Q, K2], 2, 4);
    const ad4 = randomAdapter(11, [Q, FF], 4, 2);
    const { rank, feeds } = packLoraBatch(MODULES, SHAPES, [[{ adapter: ad2, scale: 0.5 }], [{ adapter: ad4, scale: 1.5 }], []]);
    assert.equal(rank, 4);
    assert.equal(feeds.size, 2 * MODULES.length);
    for (const m of MODULES) {
      const [out, inp] = SHAPES.get(m)!;
      assert.deepEqual(feeds.get(`lora.${m}.a`)!.dims, [3, 4, inp]);
      assert.deepEqual(feeds.get(`lora.${m}.b`)!.dims, [3, out, 4]);
      assert.equal(feeds.get(`lora.${m}.a`)!.data.length, 3 * 4 * inp);
      assert.equal(feeds.get(`lora.${m}.b`)!.data.length, 3 * out * 4);
    }
    const R = 4;
    const check = (m: string, sample: number, layer: LoraLayer | undefined, c: number): void => {
      const [out, inp] = SHAPES.get(m)!;
      const a = feeds.get(`lora.${m}.a`)!.data;
      const b = feeds.get(`lora.${m}.b`)!.data;
      const r = layer?.rank ?? 0;
      for (let j = 0; j < R; j++) {
        for (let i = 0; i < inp; i++) {
          const got = a[(sample * R + j) * inp + i];
          assert.equal(got, j < r ? layer!.a[j * inp + i] : 0, `${m} a[${sample}, ${j}, ${i}]`);
        }
      }
      for (let o = 0; o < out; o++) {
        for (let j = 0; j < R; j++) {
          const got = b[(sample * out + o) * R + j];
          const want = j < r ? Math.fround(layer!.b[o * r + j] * c) : 0;
          assert.ok(Math.abs(got - want) <= 1e-6 * (1 + Math.abs(want)), `${m} b[${sample}, ${o}, ${j}]: ${got} vs ${want}`);
        }
      }
    };
    for (const m of MODULES) {
      check(m, 0, ad2.layers.get(m), (4 / 2) * 0.5);
      check(m, 1, ad4.layers.get(m), (2 / 4) * 1.5);
      check(m, 2, undefined, 0);
    }
  });

  it('(b) two adapters on one sample sum their scaled contributions', () => {
    const adA = randomAdapter(20, [Q, FF], 2, 3);
    const adB = randomAdapter(21, [Q, K2], 3, 6);
    const uses: AdapterUse[] = [{ adapter: adA, scale: 0.7 }, { adapter: adB, scale: -1.25 }];
    const { rank, feeds } = packLoraBatch(MODULES, SHAPES, [uses, [{ adapter: adA, scale: 1 }]]);
    assert.equal(rank, 5);
    const rng = new Random(22);
    for (const m of MODULES) {
      const [out, inp] = SHAPES.get(m)!;
      const n = 3;
      const x = Float64Array.from(rng.randn(n * inp));
      // Packed path for sample 0: (x·aᵀ)·bᵀ with a [R, in], b [out, R].
      const a = feeds.get(`lora.${m}.a`)!.data.subarray(0, rank * inp);
      const b = feeds.get(`lora.${m}.b`)!.data.subarray(0, out * rank);
      const got = loraPath(x, n, inp, a, b, rank, out);
      // Independent: Σ_k s_k·(alpha_k/r_k)·x·A_kᵀ·B_kᵀ.
      const want = new Float64Array(n * out);
      for (const { adapter, scale } of uses) {
        const l = adapter.layers.get(m);
        if (!l) continue;
        const y = loraPath(x, n, inp, l.a, l.b, l.rank, out);
        const c = scale * (l.alpha / l.rank);
        for (let i = 0; i < y.length; i++) want[i] += c * y[i];
      }
      assertClose(got, want, 1e-5, m);
    }
  });

  it('(c) mergedDelta equals scale·alpha/r·B·A computed naively, and matches the packed path', () => {
    const ad = randomAdapter(30, [FF], 3, 5);
    const l = ad.layers.get(FF)!;
    const [out, inp] = SHAPES.get(FF)!;
    const scale = 0.8;
    const naive = new Float64Array(out * inp);
    for (let o = 0; o < out; o++) {
      for (let i = 0; i < inp; i++) {
        let s = 0;
        for (let j = 0; j < 3; j++) s += l.b[o * 3 + j] * l.a[j * inp + i];
        naive[o * inp + i] = scale * (5 / 3) * s;
      }
    }
    const delta = mergedDelta(l, scale);
    assertClose(delta, naive, 1e-6, 'ΔW');

    const { feeds, rank } = packLoraBatch([FF], SHAPES, [[{ adapter: ad, scale }]]);
    const x = Float64Array.from(new Random(31).randn(2 * inp));
    const viaPack = loraPath(x, 2, inp, feeds.get(`lora.${FF}.a`)!.data, feeds.get(`lora.${FF}.b`)!.data, rank, out);
    const viaDelta = new Float64Array(2 * out);
    for (let s = 0; s < 2; s++) for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) viaDelta[s * out + o] += x[s * inp + i] * naive[o * inp + i];
    assertClose(viaPack, viaDelta, 1e-5, 'x·ΔWᵀ');
  });

  it('no adapters at all: rank 1, zeros', () => {
    const { rank, feeds } = packLoraBatch(MODULES, SHAPES, [[], []]);
    assert.equal(rank, 1);
    for (const f of feeds.values()) assert.ok(f.data.every((v) => v === 0));
  });

  it('rejects adapters the graph cannot apply, bad scales and empty batches', () => {
    const ad = randomAdapter(40, [Q, PROJ_IN], 2, 2);
    assertLoraError(() => packLoraBatch([Q], SHAPES, [[{ adapter: ad, scale: 1 }]]), /no LoRA inputs for adapter module\(s\) up_blocks\.1\.attentions\.2\.proj_in/);
    const wrong = new Map(SHAPES);
    wrong.set(Q, [8, 4]);
    assertLoraError(() => packLoraBatch(MODULES, wrong, [[{ adapter: ad, scale: 1 }]]), /adapter layer is \[8, 8\], the model's is \[8, 4\]/);
    assertLoraError(() => packLoraBatch(MODULES, SHAPES, [[{ adapter: ad, scale: Number.NaN }]]), /finite/);
    assertLoraError(() => packLoraBatch(MODULES, SHAPES, []), /empty batch/);
  });

  it('sees in-place changes after invalidateLoraPackCache', () => {
    const ad = randomAdapter(50, [Q], 2, 2);
    const first = packLoraBatch(MODULES, SHAPES, [[{ adapter: ad, scale: 1 }]]).feeds.get(`lora.${Q}.b`)!.data[0];
    ad.layers.get(Q)!.b[0] += 1;
    invalidateLoraPackCache(ad);
    const second = packLoraBatch(MODULES, SHAPES, [[{ adapter: ad, scale: 1 }]]).feeds.get(`lora.${Q}.b`)!.data[0];
    assert.ok(Math.abs(second - first - 1) < 1e-6);
  });

  it('packs 8 samples × 8 rank-8 adapters over 80 modules (≤ 256 wide) quickly', (tc) => {
    const widths = [64, 128, 256];
    const shapes = new Map<string, ModuleShape>();
    for (let blk = 0; blk < 10; blk++) {
      const c = widths[blk % 3];
      for (const attn of ['attn1', 'attn2']) {
        for (const proj of ['to_q', 'to_k', 'to_v', 'to_out.0']) {
          const inp = attn === 'attn2' && (proj === 'to_k' || proj === 'to_v') ? 256 : c;
          shapes.set(`down_blocks.${blk}.attentions.0.transformer_blocks.0.${attn}.${proj}`, [c, inp]);
        }
      }
    }
    const modules = [...shapes.keys()];
    assert.equal(modules.length, 80);
    const adapters = Array.from({ length: 8 }, (_, i) => randomAdapter(100 + i, modules, 8, 8, shapes));
    const perSample = adapters.map((adapter) => [{ adapter, scale: 0.9 }]);
    let floats = 0;
    const time = (): number => {
      const t0 = performance.now();
      const packed = packLoraBatch(modules, shapes, perSample);
      const dt = performance.now() - t0;
      floats = 0;
      for (const f of packed.feeds.values()) floats += f.data.length;
      return dt;
    };
    const cold = time();
    const runs: number[] = [];
    for (let i = 0; i < 50; i++) runs.push(time());
    runs.sort((a, b) => a - b);
    const median = runs[runs.length >> 1];
    tc.diagnostic(`pack 8×8 rank-8 adapters, 80 modules: cold ${cold.toFixed(3)} ms, warm median ${median.toFixed(3)} ms, min ${runs[0].toFixed(3)} ms (${((floats * 4) / 1e6).toFixed(2)} MB of feeds)`);
    // A loose bound: the machine is shared with training jobs.
    assert.ok(median < 20, `median ${median} ms`);
  });
});

// ---- training factors -------------------------------------------------------------------------

describe('training-graph factors', () => {
  it('feeds a = A (view) and b = (alpha/r)·B; shapes [1, r, in] / [1, out, r]', () => {
    const ad = randomAdapter(60, [Q, FF], 4, 2);
    const feeds = loraTrainingFeeds(ad, { rank: 4 });
    const shapes = trainingFactorShapes(ad.targetModules, SHAPES, 4);
    assert.deepEqual(shapes.get(`lora.${FF}.a`), [1, 4, 8]);
    assert.deepEqual(shapes.get(`lora.${FF}.b`), [1, 16, 4]);
    for (const m of ad.targetModules) {
      const l = ad.layers.get(m)!;
      assert.equal(feeds.get(`lora.${m}.a`), l.a, 'a is a view of the adapter');
      const b = feeds.get(`lora.${m}.b`)!;
      assert.notEqual(b, l.b);
      assertClose(b, Array.from(l.b, (v) => v * 0.5), 1e-7, 'b');
      const [d0, d1, d2] = shapes.get(`lora.${m}.b`)!;
      assert.equal(b.length, d0 * d1 * d2);
    }
    const again = loraTrainingFeeds(ad, { reuse: feeds });
    assert.equal(again.get(`lora.${Q}.b`), feeds.get(`lora.${Q}.b`), 'reused arrays');
    assertLoraError(() => loraTrainingFeeds(ad, { rank: 8 }), /training graph has rank 8/);
    assertLoraError(() => loraTrainingFeeds(ad, { modules: [K2] }), /no layer for training module/);
  });

  it('maps dL/db\' back to dL/dB = (alpha/r)·dL/db\' (checked against finite differences)', () => {
    const ad = randomAdapter(61, [FF], 3, 6);
    const l = ad.layers.get(FF)!;
    const [out, inp] = SHAPES.get(FF)!;
    const r = 3;
    const s = 6 / 3;
    const rng = new Random(62);
    const n = 4;
    const x = Float64Array.from(rng.randn(n * inp));
    const G = Float64Array.from(rng.randn(n * out));
    // L(A, B) = Σ G ⊙ (x·Aᵀ)·(s·B)ᵀ
    const loss = (A: ArrayLike<number>, B: ArrayLike<number>): number => {
      const y = loraPath(x, n, inp, A, B, r, out);
      let sum = 0;
      for (let i = 0; i < y.length; i++) sum += G[i] * s * y[i];
      return sum;
    };
    // What the graph returns: gradients w.r.t. its inputs a and b' (computed analytically here).
    const h = new Float64Array(n * r);
    for (let q = 0; q < n; q++) for (let j = 0; j < r; j++) for (let i = 0; i < inp; i++) h[q * r + j] += x[q * inp + i] * l.a[j * inp + i];
    const gbPrime = new Float32Array(out * r);
    for (let o = 0; o < out; o++) for (let j = 0; j < r; j++) {
      let acc = 0;
      for (let q = 0; q < n; q++) acc += G[q * out + o] * h[q * r + j];
      gbPrime[o * r + j] = acc;
    }
    const bPrime = Array.from(l.b, (v) => v * s);
    const ga = new Float32Array(r * inp);
    for (let j = 0; j < r; j++) for (let i = 0; i < inp; i++) {
      let acc = 0;
      for (let q = 0; q < n; q++) for (let o = 0; o < out; o++) acc += G[q * out + o] * bPrime[o * r + j] * x[q * inp + i];
      ga[j * inp + i] = acc;
    }
    const grads = loraGradientsToAdapter(ad, new Map([[`lora.${FF}.a`, ga], [`lora.${FF}.b`, gbPrime]]));
    assert.equal(grads.get(`lora.${FF}.a`), ga);
    const gB = grads.get(`lora.${FF}.b`)!;
    const eps = 1e-3;
    for (const idx of [0, 7, 25, 47]) {
      const Bp = Float64Array.from(l.b);
      const Bm = Float64Array.from(l.b);
      Bp[idx] += eps;
      Bm[idx] -= eps;
      const fd = (loss(l.a, Bp) - loss(l.a, Bm)) / (2 * eps);
      assert.ok(Math.abs(gB[idx] - fd) < 1e-3 * (1 + Math.abs(fd)), `dL/dB[${idx}]: ${gB[idx]} vs ${fd}`);
    }
    for (const idx of [0, 9, 23]) {
      const Ap = Float64Array.from(l.a);
      const Am = Float64Array.from(l.a);
      Ap[idx] += eps;
      Am[idx] -= eps;
      const fd = (loss(Ap, l.b) - loss(Am, l.b)) / (2 * eps);
      assert.ok(Math.abs(ga[idx] - fd) < 1e-3 * (1 + Math.abs(fd)), `dL/dA[${idx}]: ${ga[idx]} vs ${fd}`);
    }
    const inPlace = loraGradientsToAdapter(ad, new Map([[`lora.${FF}.b`, gbPrime]]), { inPlace: true });
    assert.equal(inPlace.get(`lora.${FF}.b`), gbPrime);
    assertLoraError(() => loraGradientsToAdapter(ad, new Map([['weight', ga]])), /not a LoRA input/);
  });

  it('parameter views alias the adapter; feeds convert back to an equal adapter', () => {
    const ad = randomAdapter(63, [Q, K2], 2, 5);
    const views = loraParameterViews(ad);
    assert.equal(views.get(`lora.${Q}.a`), ad.layers.get(Q)!.a);
    assert.equal(views.get(`lora.${K2}.b`), ad.layers.get(K2)!.b);
    const back = adapterFromTrainingFeeds(loraTrainingFeeds(ad), SHAPES, { rank: 2, alpha: 5, metadata: { k: 'v' } });
    assert.deepEqual(back.targetModules, ad.targetModules);
    assert.deepEqual(back.metadata, { k: 'v' });
    for (const m of ad.targetModules) {
      assert.deepEqual(back.layers.get(m)!.a, ad.layers.get(m)!.a);
      assertClose(back.layers.get(m)!.b, ad.layers.get(m)!.b, 1e-6, 'B');
      assert.equal(back.layers.get(m)!.alpha, 5);
    }
  });
});

describe('activeAdaptersByTimestep', () => {
  it('keeps each use below its window, per row or for the whole batch, and packs once per active set', () => {
    const stub = { rank: 1 } as unknown as AdapterUse['adapter'];
    const full: AdapterUse = { adapter: stub, scale: 1 };
    const low: AdapterUse = { adapter: stub, scale: 0.5, timestepWindow: 0.4 };
    const packs: AdapterUse[][][] = [];
    const at = activeAdaptersByTimestep([[full, low], [low], []], 1000, (active) => {
      packs.push(active);
      return packs.length;
    });
    assert.equal(at(900), 1);
    assert.deepEqual(packs[0], [[full], [], []], 'above 0.4·T only the unwindowed use acts');
    assert.equal(at(700), 1, 'the same active set reuses its feeds');
    assert.equal(at(100), 2);
    assert.deepEqual(packs[1], [[full, low], [low], []]);
    assert.equal(at([100, 900, 5]), 3, 'per-row timesteps');
    assert.deepEqual(packs[2], [[full, low], [], []]);
    assert.equal(at(399), 2, 'the window is open below window · T');
    assert.equal(at(400), 1);
    assert.equal(packs.length, 3);
  });
});
