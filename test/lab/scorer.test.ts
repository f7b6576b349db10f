import { before, after, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { TfjsOps } from '../../src/engine/graph/tfjs-ops';
import { OnnxGraphOps, Sym } from '../../src/engine/graph/onnx-graph-ops';
import { encodeModel } from '../../src/engine/onnx/onnx-model';
import { createSession, run } from '../../src/engine/onnx/ort-session';
import { initParams, ParamMap } from '../../src/engine/models/param-init';
import { Random } from '../../src/engine/schedulers/random';
import { buildEmojiDataset, commonEvalConcepts, EMOJI_STYLES, hashString32, loadEmojiCatalog } from '../../src/lab/emoji-data';
import { DEFAULT_SCORER_ARCHITECTURE, ScorerConfig, scorerForward, scorerParamCount, scorerParamShapes } from '../../src/engine/scorer/scorer.model';
import { ScorerTrainingGraph } from '../../src/engine/scorer/scorer-graph';
import { EmojiScorer, EmojiScorerFileConfig } from '../../src/engine/scorer/emoji-scorer';
import { augmentImage, DEFAULT_SCORER_AUGMENT, resizeBilinear } from '../../src/lab/scorer/scorer-augment';
import { splitScorerImages } from '../../src/lab/scorer/scorer-data';
import { corruptImage, CORRUPTION_KINDS } from '../../src/lab/scorer/image-corruptions';
import { evaluationSets } from '../../src/lab/evaluation/style-evaluation';
import { relErr } from '../support/numerics';

tf.setBackend('cpu');

const SCORER_DIR = path.resolve('models', 'emoji-scorer');


function tfParams(params: ParamMap): Map<string, tf.Tensor> {
  return new Map([...params].map(([k, v]) => [k, tf.tensor(v.data, v.shape)]));
}

const TINY: ScorerConfig = {
  ...DEFAULT_SCORER_ARCHITECTURE,
  image_size: 8,
  stem_channels: 8,
  stage_channels: [8, 16],
  norm_num_groups: 4,
  num_styles: 3,
  num_concepts: 7,
};

describe('logSoftmax op', () => {
  test('ONNX value and gradient match tfjs autodiff', async () => {
    const rng = new Random(5);
    const [n, k] = [3, 11];
    const x = Float32Array.from(rng.randn(n * k), (v) => 4 * v);
    const w = rng.randn(n * k);
    const ref = tf.tidy(() => {
      const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.logSoftmax(t, -1), tf.tensor(w, [n, k]))) as tf.Scalar;
      const { value, grad } = tf.valueAndGrad(f)(tf.tensor(x, [n, k]));
      return { value: value.dataSync()[0], grad: grad.dataSync() as Float32Array, out: tf.logSoftmax(tf.tensor(x, [n, k]), -1).dataSync() as Float32Array };
    });
    const g = new OnnxGraphOps({ params: new Map(), differentiable: true });
    const xs = g.input('x', [-1, k], 'float32', true);
    const ws = g.input('w', [-1, k]);
    const y = g.logSoftmax(xs);
    const loss = g.reshape(g.reduceSum(g.mul(y, ws), [0, 1]), []);
    g.output(y, 'y');
    g.output(loss, 'loss');
    g.output(g.gradients(loss, [xs])[0] as Sym, 'dx');
    const { session } = await createSession(encodeModel(g.toModel()), { executionProvider: 'cpu', intraOpThreads: 1 });
    const out = await run(session, { x: { data: x, dims: [n, k] }, w: { data: w, dims: [n, k] } });
    assert.ok(relErr(out.y.data as Float32Array, ref.out) <= 1e-5);
    assert.ok(Math.abs((out.loss.data as Float32Array)[0] - ref.value) <= 1e-4 * Math.abs(ref.value));
    assert.ok(relErr(out.dx.data as Float32Array, ref.grad) <= 1e-5, `gradient error ${relErr(out.dx.data as Float32Array, ref.grad)}`);
    // Finite differences as an independent check of the rule.
    const lossAt = (v: Float32Array) => tf.tidy(() => tf.sum(tf.mul(tf.logSoftmax(tf.tensor(v, [n, k]), -1), tf.tensor(w, [n, k]))).dataSync()[0]);
    for (const i of [0, 7, 20]) {
      const h = 1e-2;
      const up = x.slice();
      const down = x.slice();
      up[i] += h;
      down[i] -= h;
      const fd = (lossAt(up) - lossAt(down)) / (2 * h);
      assert.ok(Math.abs(fd - (out.dx.data as Float32Array)[i]) <= 2e-3 * Math.max(1, Math.abs(fd)), `d/dx[${i}]: ${fd} vs ${(out.dx.data as Float32Array)[i]}`);
    }
  });
});

describe('scorer model definition', () => {
  test('has the documented size', () => {
    const n = scorerParamCount({ ...DEFAULT_SCORER_ARCHITECTURE, num_concepts: 1644 });
    assert.ok(n > 1e6 && n < 1.5e6, `${n} parameters`);
  });

  test('ONNX inference graph matches tfjs on random weights (full architecture)', async () => {
    const cfg: ScorerConfig = { ...DEFAULT_SCORER_ARCHITECTURE, num_concepts: 23 };
    const params = initParams(scorerParamShapes(cfg), 11, { randomNorms: true });
    const n = 2;
    const s = cfg.image_size;
    const images = new Random(12).randn(n * 3 * s * s).map((v) => Math.tanh(v));
    const ref = tf.tidy(() => {
      const out = scorerForward(new TfjsOps(tf, tfParams(params)), cfg, tf.tensor(images, [n, 3, s, s]));
      return { style: out.styleLogits.dataSync() as Float32Array, concept: out.conceptLogits.dataSync() as Float32Array };
    });
    const fileConfig: EmojiScorerFileConfig = {
      ...cfg,
      styles: [...EMOJI_STYLES],
      concept_ids: Array.from({ length: cfg.num_concepts }, (_, i) => (0x1f600 + i).toString(16).toUpperCase()),
      normalization: { layout: 'CHW', channels: 'RGB', range: [-1, 1], background: 'white' },
    };
    const scorer = await EmojiScorer.fromParams(fileConfig, params, { executionProvider: 'cpu', intraOpThreads: 1 });
    const scored = await scorer.scoreBatch(images);
    await scorer.release();
    const style = Float32Array.from(scored.flatMap((r) => [...r.styleLogits]));
    const concept = Float32Array.from(scored.flatMap((r) => [...r.conceptLogits]));
    assert.ok(relErr(style, ref.style) <= 1e-4, `style logits: relative error ${relErr(style, ref.style)}`);
    assert.ok(relErr(concept, ref.concept) <= 1e-4, `concept logits: relative error ${relErr(concept, ref.concept)}`);
  });

  test('training graph (with feature dropout mask): loss and every parameter gradient match tfjs autodiff', async () => {
    const cfg = TINY;
    const params = initParams(scorerParamShapes(cfg), 21, { randomNorms: true });
    const names = [...params.keys()];
    const n = 3;
    const s = cfg.image_size;
    const rng = new Random(22);
    const images = rng.randn(n * 3 * s * s);
    const styleTargets = Float32Array.from([1, 0, 0, 0, 0.9, 0.1, 0, 0, 1]);
    const conceptTargets = new Float32Array(n * cfg.num_concepts).fill(0.1 / cfg.num_concepts);
    [2, 5, 0].forEach((c, i) => (conceptTargets[i * cfg.num_concepts + c] += 0.9));
    const weights = Float32Array.from([0.5, 0.25, 0.25]);
    const c = cfg.stage_channels[cfg.stage_channels.length - 1];
    const featureMask = Float32Array.from({ length: n * c }, (_, i) => (i % 5 === 0 ? 0 : 1.25));

    const ref = tf.tidy(() => {
      const f = (...xs: tf.Tensor[]) => {
        const ops = new TfjsOps(tf, new Map(names.map((k, i) => [k, xs[i]])));
        const out = scorerForward(ops, cfg, tf.tensor(images, [n, 3, s, s]), { featureMask: tf.tensor(featureMask, [n, c]) });
        const ce = (z: tf.Tensor, y: Float32Array, k: number) => tf.neg(tf.sum(tf.mul(tf.logSoftmax(z, -1), tf.tensor(y, [n, k])), 1));
        const per = tf.add(ce(out.styleLogits, styleTargets, cfg.num_styles), ce(out.conceptLogits, conceptTargets, cfg.num_concepts));
        return tf.sum(tf.mul(per, tf.tensor(weights))) as tf.Scalar;
      };
      const vars = tfParams(params);
      const { value, grads } = tf.valueAndGrads(f)(names.map((k) => vars.get(k)!));
      return { loss: value.dataSync()[0], grads: grads.map((g) => g.dataSync() as Float32Array) };
    });

    const graph = await ScorerTrainingGraph.create(cfg, params, { intraOpThreads: 1, featureDropout: true });
    const res = await graph.step(
      { batch: n, images, styleTargets, conceptTargets, weights, featureMask },
      new Map([...params].map(([k, v]) => [k, v.data])),
    );
    await graph.release();
    assert.ok(Math.abs(res.loss - ref.loss) <= 1e-5 * Math.abs(ref.loss), `loss ${res.loss} vs ${ref.loss}`);
    names.forEach((k, i) => {
      const err = relErr(res.grads.get(k)!, ref.grads[i]);
      assert.ok(err <= 1e-3, `${k}: relative error ${err}`);
    });
  });
});

describe('augmentation and split', () => {
  test('augmentation is deterministic under a seed, stays in range, and translation pads with white', () => {
    const s = 32;
    const src = new Random(1).randn(3 * s * s).map((v) => Math.tanh(v));
    const a = new Float32Array(src.length);
    const b = new Float32Array(src.length);
    augmentImage(src, s, new Random(9), DEFAULT_SCORER_AUGMENT, a);
    augmentImage(src, s, new Random(9), DEFAULT_SCORER_AUGMENT, b);
    assert.deepEqual(a, b);
    assert.ok(a.every((v) => v >= -1 && v <= 1));
    // A pure shift (no other change) of a black image leaves white borders.
    const black = new Float32Array(3 * s * s).fill(-1);
    const shifted = new Float32Array(black.length);
    const shiftOnly = { maxShift: 2, zoom: 0, maxRotation: 0, geometricProbability: 0, colorJitter: 0, maxNoiseStd: 0, blurProbability: 0, rescaleProbability: 0 };
    let sawWhite = false;
    for (let seed = 0; seed < 8 && !sawWhite; seed++) {
      augmentImage(black, s, new Random(seed), shiftOnly, shifted);
      sawWhite = shifted.some((v) => v === 1);
      assert.ok(shifted.every((v) => v === 1 || v === -1));
    }
    assert.ok(sawWhite);
    // A 2× bilinear reduction is a 2×2 mean.
    const small = resizeBilinear(src, s, s / 2);
    const mean = (src[0] + src[1] + src[s] + src[s + 1]) / 4;
    assert.ok(Math.abs(small[0] - mean) < 1e-6);
  });

  test('held-out split removes one rendering of ~15% of concepts and keeps every concept trainable', () => {
    const concepts = 400;
    const conceptIds = Array.from({ length: concepts }, (_, i) => (0x1f300 + i).toString(16).toUpperCase());
    const conceptLabels = Int32Array.from({ length: concepts * 3 }, (_, i) => Math.floor(i / 3));
    const styleLabels = Int32Array.from({ length: concepts * 3 }, (_, i) => i % 3);
    const data = { count: concepts * 3, conceptIds, conceptLabels, styleLabels, styles: EMOJI_STYLES };
    const split = splitScorerImages(data);
    assert.deepEqual(splitScorerImages(data), split);
    assert.ok(split.heldOut.length > 0.1 * concepts && split.heldOut.length < 0.2 * concepts, `${split.heldOut.length}`);
    const heldConcepts = split.heldOut.map((i) => conceptLabels[i]);
    assert.equal(new Set(heldConcepts).size, heldConcepts.length, 'at most one rendering per concept');
    const trainConcepts = new Set(split.train.map((i) => conceptLabels[i]));
    assert.equal(trainConcepts.size, concepts);
    const heldStyles = new Set(split.heldOut.map((i) => styleLabels[i]));
    assert.equal(heldStyles.size, 3, 'held-out renderings span every style');
  });
});

describe('committed emoji scorer', () => {
  let scorer: EmojiScorer;
  let config: Record<string, any>;
  before(async () => {
    scorer = await EmojiScorer.load(SCORER_DIR, { executionProvider: 'cpu', intraOpThreads: 1 });
    config = JSON.parse(fs.readFileSync(path.join(SCORER_DIR, 'config.json'), 'utf8'));
  });
  after(async () => {
    await scorer?.release();
  });

  test('is small fp16 safetensors with a complete config', () => {
    const bytes = fs.statSync(path.join(SCORER_DIR, 'model.safetensors')).size;
    assert.ok(bytes < 3.2e6, `${bytes} bytes`);
    assert.deepEqual(scorer.styles, ['noto', 'twemoji', 'openmoji']);
    assert.equal(scorer.conceptIds.length, scorer.config.num_concepts);
    const catalog = loadEmojiCatalog({ includeFlags: false });
    assert.deepEqual(scorer.conceptIds, catalog.concepts.map((c) => c.id));
    assert.ok(config.held_out.images > 100 && config.held_out.styleAccuracy > 0.8 && config.held_out.conceptTop5 > 0.15, JSON.stringify(config.held_out));
  });

  test('classifies style and concept of the common evaluation prompts in every style', async () => {
    const catalog = loadEmojiCatalog({ includeFlags: false });
    const data = await buildEmojiDataset({ styles: EMOJI_STYLES, concepts: commonEvalConcepts(catalog), size: 32, cacheDir: null });
    const scored = await scorer.scoreBatch(data.images);
    assert.equal(scored.length, 21);
    let styleHits = 0;
    let top5 = 0;
    scored.forEach((r, i) => {
      const id = data.conceptIds[i];
      const what = `${id} in ${data.styles[i]}: rank ${r.rankOf(id)}, style ${JSON.stringify(r.styleProbabilities)}, top ${JSON.stringify(r.topK(5))}`;
      if (r.predictedStyle === data.styles[i]) styleHits++;
      if (r.inTopK(id, 5)) top5++;
      assert.ok(r.rankOf(id) <= 10, what);
      // Red heart, pizza and tree: right concept in the top 5 and right style, in every style.
      if (['2764', '1F355', '1F333'].includes(id)) {
        assert.ok(r.inTopK(id, 5), what);
        assert.equal(r.predictedStyle, data.styles[i], what);
      }
    });
    assert.ok(styleHits >= 19, `style right for ${styleHits}/21`);
    assert.ok(top5 >= 18, `concept in top 5 for ${top5}/21`);
    // API consistency: probabilities sum to one, topK agrees with rankOf, FE0F forms resolve.
    const r = scored[0];
    const sum = (v: Iterable<number>) => [...v].reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum(Object.values(r.styleProbabilities)) + r.noneProbability - 1) < 1e-5);
    assert.ok(Math.abs(sum(r.conceptProbabilities) - 1) < 1e-4);
    const top = r.topK(5);
    top.forEach((t, j) => assert.equal(r.rankOf(t.conceptId), j + 1));
    assert.equal(r.rankOf('2764-fe0f'), r.rankOf('2764'));
    assert.ok(Math.abs(r.probabilityOf(top[0].conceptId) - top[0].probability) < 1e-7);
  });

  test('reproduces its recorded accuracy on a deterministic sample of real images', async () => {
    const catalog = loadEmojiCatalog({ includeFlags: false });
    const picked = catalog.concepts.filter((c) => hashString32(`scorer-test:${c.id}`) % 40 === 0).slice(0, 24);
    const data = await buildEmojiDataset({ styles: EMOJI_STYLES, concepts: picked, size: 32, cacheDir: null });
    const scored = await scorer.scoreBatch(data.images);
    let style = 0;
    let top5 = 0;
    scored.forEach((r, i) => {
      if (r.predictedStyle === data.styles[i]) style++;
      if (r.inTopK(data.conceptIds[i], 5)) top5++;
    });
    const recorded = config.final_all_images;
    const tol = 0.12;
    assert.ok(style / scored.length >= recorded.styleAccuracy - tol, `style ${style}/${scored.length} vs recorded ${recorded.styleAccuracy}`);
    assert.ok(top5 / scored.length >= recorded.conceptTop5 - tol, `top-5 ${top5}/${scored.length} vs recorded ${recorded.conceptTop5}`);
  });

  test('resizes other input sizes to its own', async () => {
    const s = 64;
    const white = new Float32Array(3 * s * s).fill(1);
    const [r] = await scorer.scoreBatch([white], s);
    assert.equal(r.conceptLogits.length, scorer.config.num_concepts);
    await assert.rejects(scorer.scoreBatch([new Float32Array(5)]), /expected 3×32×32/);
  });
});

describe('rejection class of the committed scorer', () => {
  let scorer: EmojiScorer;
  before(async () => {
    scorer = await EmojiScorer.load(SCORER_DIR, { executionProvider: 'cpu', intraOpThreads: 1 });
  });
  after(async () => {
    await scorer?.release();
  });

  test('keeps real held-out OpenMoji renderings as OpenMoji and rejects corrupted base-like renderings', async () => {
    assert.equal(scorer.rejectClass, 'none');
    // The evaluation's first held-out concepts: left out of the rejection fit.
    const concepts = evaluationSets({ basePrompts: 0, heldOutPrompts: 48, brandImages: 48 }).heldOut;
    const data = await buildEmojiDataset({ styles: EMOJI_STYLES, concepts, size: 32, cacheDir: null });
    const per = 3 * 32 * 32;
    const at = (i: number) => data.images.subarray(i * per, (i + 1) * per);
    const idx = Array.from({ length: data.count }, (_, i) => i);
    const om = idx.filter((i) => data.styles[i] === 'openmoji');
    const base = idx.filter((i) => data.styles[i] !== 'openmoji');
    const omScores = await scorer.scoreBatch(om.map(at));
    const omProb = omScores.reduce((a, r) => a + r.styleProbabilities.openmoji, 0) / om.length;
    const omRight = omScores.filter((r) => r.predictedStyle === 'openmoji').length / om.length;
    assert.ok(omProb > 0.8 && omRight > 0.9, `OpenMoji probability ${omProb.toFixed(3)}, classified OpenMoji ${omRight.toFixed(3)}`);
    const rng = new Random(5);
    for (const kind of CORRUPTION_KINDS) {
      const scored = await scorer.scoreBatch(base.map((i) => corruptImage(at(i), 32, { kind, strength: 0.5 }, rng)));
      const p = scored.reduce((a, r) => a + r.styleProbabilities.openmoji, 0) / scored.length;
      const none = scored.reduce((a, r) => a + r.noneProbability, 0) / scored.length;
      assert.ok(p < 0.05, `${kind}: OpenMoji probability ${p.toFixed(3)}`);
      assert.ok(none > 0.4, `${kind}: none probability ${none.toFixed(3)}`);
      assert.ok(none > 3 * p, `${kind}: none ${none.toFixed(3)} vs OpenMoji ${p.toFixed(3)}`);
    }
  });
});
