import * as path from 'path';
import * as fsp from 'fs/promises';
import { CliArgs, runCli } from './cli-args';
import { createPipeline } from '../engine/pipeline/pipeline.factory';
import { loadDiffusionModel } from '../engine/models/diffusion-model';
import { resolveDefaultModelDir } from '../engine/models/default-model';
import { EmojiScorer } from '../engine/scorer/emoji-scorer';
import { fineTune, DEFAULT_FINE_TUNE_HYPERPARAMETERS } from '../engine/dro/fine-tune.trainer';
import { readFineTuneHyperparameters } from './fine-tune-args';
import { writeLoraFile } from '../engine/lora/lora-file';
import {
  brandDemonstrations,
  casesFor,
  casesForEachStyle,
  DEFAULT_EVAL_SAMPLING,
  evaluationSets,
  generateCases,
  styleWinRate,
  summarize,
  writeGrid,
} from '../engine/eval/style-evaluation';
import { ProgressBar } from '../engine/training/progress-reporter';
import { writeEmojiBaseModelCard } from '../engine/training/emoji-base.model-card';
import { readTrainingLog, totalTrainingSteps } from '../engine/training/pretrain.trainer';

/**
 * npm run eval -- --json [--base-only] [--model-card] [--model DIR] [--out-dir eval-output] [--base-prompts 64]
 *   [--held-out-prompts 24] [--seeds 2] [--brand-images 48] [--guidance 4] [--sampling-steps 20] [--steps N (fine-tune budget)]
 *   [--lr X --margin M … (both methods), --dro-lr X, --sft-steps N … (one method); see fine-tune-args.ts]
 * Scores generated images with the project's emoji scorer. Base: concept top-5 and style accuracy on
 * training-concept prompts. Full: trains SFT and DRO adapters on OpenMoji brand images and compares
 * base, SFT and DRO on held-out prompts (same seeds and sampler).
 */
runCli(async () => {
  const args = new CliArgs();
  const json = args.flag('json');
  const baseOnly = args.flag('base-only');
  const modelDir = args.optionalString('model') ?? (await resolveDefaultModelDir());
  const outDir = path.resolve(args.string('out-dir', 'eval-output'));
  const basePrompts = args.number('base-prompts', 64);
  const heldOutPrompts = args.number('held-out-prompts', 24);
  const nSeeds = args.number('seeds', 2);
  const brandImages = args.number('brand-images', 48);
  // Fine-tune hyperparameters: --<flag> for both methods, --sft-<flag> / --dro-<flag> for one.
  const sharedHp = readFineTuneHyperparameters(args);
  const methodHp = { sft: { ...sharedHp, ...readFineTuneHyperparameters(args, 'sft-') }, dro: { ...sharedHp, ...readFineTuneHyperparameters(args, 'dro-') } };
  const threads = args.optionalString('threads');
  const modelCard = args.flag('model-card');
  const sampling = { ...DEFAULT_EVAL_SAMPLING, guidanceScale: args.number('guidance', DEFAULT_EVAL_SAMPLING.guidanceScale), steps: args.number('sampling-steps', DEFAULT_EVAL_SAMPLING.steps) };
  args.rejectUnknown();
  const log = (m: string) => {
    if (!json) console.error(m);
  };
  const seeds = Array.from({ length: nSeeds }, (_, i) => 1000 + i);
  const started = Date.now();

  const model = await loadDiffusionModel(modelDir);
  const size = model.sampleSpace.imageSize;
  const intraOpThreads = threads ? Number(threads) : undefined;
  const pipeline = await createPipeline(model, { intraOpThreads });
  const scorer = await EmojiScorer.load(undefined, { intraOpThreads });
  const sets = evaluationSets({ basePrompts, heldOutPrompts, brandImages });

  log(`base model: ${sets.baseConcepts.length} training-concept prompts × ${seeds.length} seeds`);
  const baseCases = casesFor(sets.baseConcepts, ['noto', 'twemoji'], seeds);
  const baseImages = await generateCases(pipeline, baseCases, null, sampling);
  const baseScores = await scorer.scoreBatch(baseImages, size);
  const base = summarize(baseCases, baseScores);
  const baseSummary = { conceptTop5: base.conceptTop5, styleAccuracy: base.styleAccuracy, prompts: baseCases.length };
  await writeGrid(path.join(outDir, 'base-samples.png'), baseImages.slice(0, Math.min(baseImages.length, 64)), size, 2 * seeds.length);
  const commonCases = casesForEachStyle(sets.common, ['noto', 'twemoji'], seeds);
  const commonImages = await generateCases(pipeline, commonCases, null, sampling);
  await writeGrid(path.join(outDir, 'base-common-prompts.png'), commonImages, size, 2 * seeds.length);
  if (modelCard) {
    // The bundled model's card records its sample grid and these scores.
    const trainingLog = await readTrainingLog(modelDir);
    await writeGrid(path.join(modelDir, 'samples.png'), commonImages, size, 2 * seeds.length);
    await fsp.writeFile(path.join(modelDir, 'eval.json'), JSON.stringify({ base: baseSummary, measuredAtStep: trainingLog ? totalTrainingSteps(trainingLog) : undefined, sampling }, null, 2));
    await writeEmojiBaseModelCard(modelDir);
  }

  const result: Record<string, unknown> = {
    model: path.basename(modelDir),
    sampling,
    base: { ...baseSummary },
  };

  if (!baseOnly) {
    const target = 'openmoji' as const;
    const demos = await brandDemonstrations(sets.brand, size);
    const cases = casesFor(sets.heldOut, [target], seeds);
    const adapters: Record<string, Awaited<ReturnType<typeof fineTune>>> = {};
    for (const method of ['sft', 'dro'] as const) {
      log(`${method}: fine-tuning on ${demos.length} OpenMoji brand images`);
      const bar = new ProgressBar();
      adapters[method] = await fineTune({
        model,
        demonstrations: demos,
        method,
        hyperparameters: methodHp[method],
        intraOpThreads,
        onProgress: (p) => {
          if (!json) bar.update({ step: p.step, totalSteps: p.totalSteps, samplesPerSecond: p.stepsPerSecond, rateUnit: 'steps/s', etaSeconds: (p.totalSteps - p.step) / Math.max(p.stepsPerSecond, 1e-9), values: method === 'dro' ? { loss: p.loss, expertDiff: p.expertDiff, policyDiff: p.policyDiff, active: p.activeFraction } : { loss: p.loss } });
        },
      });
      bar.done();
      await writeLoraFile(path.join(outDir, `${method}-adapter.safetensors`), adapters[method].adapter);
    }
    log(`held-out prompts: ${sets.heldOut.length} concepts × ${seeds.length} seeds, base / SFT / DRO`);
    const heldBaseImages = await generateCases(pipeline, cases, null, sampling);
    const sftImages = await generateCases(pipeline, cases, adapters.sft.adapter, sampling);
    const droImages = await generateCases(pipeline, cases, adapters.dro.adapter, sampling);
    const [sb, ss, sd] = [await scorer.scoreBatch(heldBaseImages, size), await scorer.scoreBatch(sftImages, size), await scorer.scoreBatch(droImages, size)];
    const heldBase = summarize(cases, sb, target);
    const sft = summarize(cases, ss, target);
    const dro = summarize(cases, sd, target);
    const cols = 2 * seeds.length;
    await writeGrid(path.join(outDir, 'held-out-base.png'), heldBaseImages, size, cols);
    await writeGrid(path.join(outDir, 'held-out-sft.png'), sftImages, size, cols);
    await writeGrid(path.join(outDir, 'held-out-dro.png'), droImages, size, cols);
    await writeGrid(path.join(outDir, 'brand-demonstrations.png'), demos.map((d) => d.image), size, 8);
    Object.assign(result.base as object, { heldOutStyleScore: heldBase.styleScore, heldOutConceptTop5: heldBase.conceptTop5 });
    result.sft = { styleScore: sft.styleScore, conceptTop5: sft.conceptTop5, seconds: +adapters.sft.seconds.toFixed(1) };
    result.dro = {
      styleScore: dro.styleScore,
      conceptTop5: dro.conceptTop5,
      styleWinRateVsBase: styleWinRate(sd, sb, target),
      styleWinRateVsSft: styleWinRate(sd, ss, target),
      seconds: +adapters.dro.seconds.toFixed(1),
      stepsPerSecond: +adapters.dro.metrics.stepsPerSecond.toFixed(3),
    };
    result.fineTune = {
      sft: { ...DEFAULT_FINE_TUNE_HYPERPARAMETERS, ...methodHp.sft },
      dro: { ...DEFAULT_FINE_TUNE_HYPERPARAMETERS, ...methodHp.dro },
      brandImages: demos.length,
      heldOutCases: cases.length,
    };
  }
  await pipeline.release();
  await scorer.release();
  result.seconds = Math.round((Date.now() - started) / 1000);
  await fsp.mkdir(outDir, { recursive: true });
  await fsp.writeFile(path.join(outDir, 'eval.json'), JSON.stringify(result, null, 2));
  console.log(JSON.stringify(result));
});
