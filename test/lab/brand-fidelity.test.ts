import { before, after, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { EmojiConcept, loadEmojiImage } from '../../src/lab/emoji-data';
import { EmojiScorer } from '../../src/engine/scorer/emoji-scorer';
import { BrandFidelity, ssim } from '../../src/lab/evaluation/brand-fidelity';
import { evaluationSets, generateCases, casesFor } from '../../src/lab/evaluation/style-evaluation';
import { augmentImage } from '../../src/lab/scorer/scorer-augment';
import { CLEAN_VARIATION } from '../../src/lab/scorer/style-rejection';
import { corruptImage, CORRUPTION_KINDS } from '../../src/lab/scorer/image-corruptions';
import { Random } from '../../src/engine/schedulers/random';
import { loadDiffusionModel } from '../../src/engine/models/diffusion-model';
import { resolveDefaultModelDir } from '../../src/engine/models/default-model';
import { createPipeline } from '../../src/engine/pipeline/pipeline.factory';

const SCORER_DIR = path.resolve('models', 'emoji-scorer');
const SIZE = 32;

/** A "re-drawing" of a rendering: a pixel of shift, a little zoom and colour (what a good generation differs by). */
function redrawn(img: Float32Array, rng: Random): Float32Array {
  const out = new Float32Array(img.length);
  augmentImage(img, SIZE, rng, CLEAN_VARIATION, out);
  return out;
}

describe('brand fidelity on real renderings', () => {
  let scorer: EmojiScorer;
  let fidelity: BrandFidelity;
  let concepts: EmojiConcept[];
  const om: Float32Array[] = [];
  const noto: (Float32Array | null)[] = [];
  const twemoji: (Float32Array | null)[] = [];
  before(async () => {
    scorer = await EmojiScorer.load(SCORER_DIR, { executionProvider: 'cpu', intraOpThreads: 1 });
    // The evaluation's held-out concepts (none of them in the rejection fit), all of them, not a selection.
    concepts = evaluationSets({ basePrompts: 0, heldOutPrompts: 64, brandImages: 48 }).heldOut;
    for (const c of concepts) {
      om.push(await loadEmojiImage(c, 'openmoji', SIZE));
      noto.push(await loadEmojiImage(c, 'noto', SIZE).catch(() => null));
      twemoji.push(await loadEmojiImage(c, 'twemoji', SIZE).catch(() => null));
    }
    fidelity = await BrandFidelity.create(scorer, om, SIZE);
  });
  after(async () => {
    await scorer?.release();
  });

  test('SSIM is 1 for identical images and lower for different ones', () => {
    assert.ok(Math.abs(ssim(om[0], om[0], SIZE) - 1) < 1e-6);
    assert.ok(ssim(om[0], om[1], SIZE) < 0.9);
  });

  test('a re-drawn OpenMoji X is closest to OpenMoji X among other OpenMoji concepts and the Noto and Twemoji X', async () => {
    const rng = new Random(11);
    const variants = om.map((x) => redrawn(x, rng));
    let first = 0;
    let pairsWon = 0;
    let pairs = 0;
    let aboveOtherStyles = 0;
    let withOtherStyles = 0;
    const margins: number[] = [];
    for (let i = 0; i < concepts.length; i++) {
      const others = [noto[i], twemoji[i]].filter((x): x is Float32Array => x !== null).map((x) => redrawn(x, rng));
      const candidates = [variants[i], ...variants.filter((_, j) => j !== i), ...others];
      const s = (await fidelity.score(candidates, candidates.map(() => om[i]), SIZE)).map((r) => r.fidelity);
      const best = Math.max(...s.slice(1));
      if (s[0] > best) first++;
      for (const v of s.slice(1)) {
        pairs++;
        if (s[0] > v) pairsWon++;
      }
      margins.push(s[0] - best);
      if (others.length) {
        withOtherStyles++;
        if (s[0] > Math.max(...s.slice(s.length - others.length))) aboveOtherStyles++;
      }
    }
    const rate = first / concepts.length;
    const styleRate = aboveOtherStyles / withOtherStyles;
    margins.sort((a, b) => a - b);
    const median = margins[margins.length >> 1];
    const pairRate = pairsWon / pairs;
    console.log(
      `fidelity: own concept first among ${concepts.length + 1} candidates for ${(100 * rate).toFixed(1)}% of ${concepts.length} concepts, ` +
        `above a distractor in ${(100 * pairRate).toFixed(2)}% of ${pairs} pairs, above its Noto/Twemoji renderings for ${(100 * styleRate).toFixed(1)}%, median margin ${median.toFixed(3)}`,
    );
    // Strict top-1 against all 63 other held-out OpenMoji concepts (similar faces and symbols compete).
    assert.ok(rate >= 0.85, `own concept first for ${first}/${concepts.length}`);
    assert.ok(pairRate >= 0.97, `above ${pairsWon}/${pairs} distractors`);
    assert.ok(styleRate >= 0.95, `above the other styles for ${aboveOtherStyles}/${withOtherStyles}`);
    assert.ok(median > 0.1, `median margin ${median}`);
  });

  test('blur, noise, speckle, quantisation and smear do not raise the fidelity of a clean image', async () => {
    const rng = new Random(12);
    const cleanSets: [string, Float32Array, number][] = [];
    concepts.forEach((_, i) => {
      if (noto[i]) cleanSets.push(['noto', noto[i]!, i]);
      if (twemoji[i]) cleanSets.push(['twemoji', twemoji[i]!, i]);
      cleanSets.push(['openmoji', redrawn(om[i], rng), i]);
    });
    const refs = cleanSets.map(([, , i]) => om[i]);
    const clean = (await fidelity.score(cleanSets.map(([, x]) => x), refs, SIZE)).map((r) => r.fidelity);
    const lines: string[] = [];
    for (const kind of CORRUPTION_KINDS) {
      for (const strength of [0, 0.5, 1]) {
        const corrupted = cleanSets.map(([, x]) => corruptImage(x, SIZE, { kind, strength }, rng));
        const f = (await fidelity.score(corrupted, refs, SIZE)).map((r) => r.fidelity);
        const above = f.filter((v, j) => v > clean[j]).length / f.length;
        const meanDrop = f.reduce((a, v, j) => a + clean[j] - v, 0) / f.length;
        const baseIdx = cleanSets.map(([s], j) => (s === 'openmoji' ? -1 : j)).filter((j) => j >= 0);
        const baseDrop = baseIdx.reduce((a, j) => a + clean[j] - f[j], 0) / baseIdx.length;
        lines.push(`${kind}@${strength}: above clean ${(100 * above).toFixed(1)}%, mean drop ${meanDrop.toFixed(3)} (base-like ${baseDrop.toFixed(3)})`);
      }
    }
    console.log(lines.join('\n'));
    for (const kind of CORRUPTION_KINDS) {
      for (const strength of [0, 0.5, 1]) {
        const line = lines.find((l) => l.startsWith(`${kind}@${strength}:`))!;
        const above = Number(/above clean ([\d.]+)%/.exec(line)![1]) / 100;
        const meanDrop = Number(/mean drop ([-\d.]+)/.exec(line)![1]);
        const baseDrop = Number(/base-like ([-\d.]+)/.exec(line)![1]);        // Never better on average, for the base-like (Noto/Twemoji) images as well as for OpenMoji.
        assert.ok(meanDrop > 0.02 && baseDrop > 0.02, line);
        // The mildest settings (blur σ 1, noise σ 0.15, 4 levels…) edge a few images; stronger ones few.
        assert.ok(above <= (strength === 0 ? 0.2 : 0.1), line);
      }
    }
  });
});

describe('brand fidelity on generations of the bundled model', () => {
  test('corrupting base generations of held-out prompts does not raise their fidelity', async () => {
    const model = await loadDiffusionModel(await resolveDefaultModelDir());
    const pipeline = await createPipeline(model, { intraOpThreads: 1 });
    const scorer = await EmojiScorer.load(SCORER_DIR, { executionProvider: 'cpu', intraOpThreads: 1 });
    try {
      const concepts = evaluationSets({ basePrompts: 0, heldOutPrompts: 8, brandImages: 48 }).heldOut;
      const size = model.sampleSpace.imageSize;
      const cases = casesFor(concepts, ['openmoji'], [1000]);
      const images = await generateCases(pipeline, cases, null, { steps: 12, guidanceScale: 4, batchRows: 8 });
      const refs: Float32Array[] = [];
      for (const c of concepts) refs.push(await loadEmojiImage(c, 'openmoji', size));
      const fidelity = await BrandFidelity.create(scorer, refs, size);
      const clean = (await fidelity.score(images, refs, size)).map((r) => r.fidelity);
      const rng = new Random(13);
      let above = 0;
      let total = 0;
      let drop = 0;
      let openmoji = 0;
      for (const kind of CORRUPTION_KINDS) {
        const corrupted = images.map((x) => corruptImage(x, size, { kind, strength: 0.5 }, rng));
        for (const r of await scorer.scoreBatch(corrupted, size)) openmoji += r.styleProbabilities.openmoji;
        const f = (await fidelity.score(corrupted, refs, size)).map((r) => r.fidelity);
        f.forEach((v, j) => {
          total++;
          drop += clean[j] - v;
          if (v > clean[j]) above++;
        });
      }
      console.log(
        `generations: ${images.length} base images, corrupted above clean ${above}/${total}, mean drop ${(drop / total).toFixed(3)}, ` +
          `clean fidelity ${(clean.reduce((a, b) => a + b, 0) / clean.length).toFixed(3)}, corrupted OpenMoji probability ${(openmoji / total).toFixed(4)}`,
      );
      // Degrading a base image must not make it OpenMoji for the style head either.
      assert.ok(openmoji / total < 0.05, `corrupted generations: OpenMoji probability ${openmoji / total}`);
      assert.ok(drop / total > 0.02, `mean drop ${drop / total}`);
      assert.ok(above / total <= 0.1, `${above}/${total} corrupted generations above their clean version`);
    } finally {
      await pipeline.release();
      await scorer.release();
    }
  });
});
