import * as path from 'path';
import * as fsp from 'fs/promises';
import { CliArgs, runCli } from './cli-args';
import { createPipeline, loadDiffusionModel, resolveDefaultModelDir, EmojiScorer, fineTune, DEFAULT_FINE_TUNE_HYPERPARAMETERS, DEFAULT_RECOMMENDED_SCALE, writeLoraFile, readLoraFile, type LoraAdapter, LORA_TARGETS, type LoraTargets, ProgressBar } from '../engine';
import { readFineTuneHyperparameters } from './fine-tune-args';
import {
  brandDemonstrations,
  casesFor,
  casesForEachStyle,
  DEFAULT_EVAL_SAMPLING,
  EvalCase,
  evaluationSets,
  generateCases,
  round,
  styleWinRate,
  summarize,
  writeGrid,
} from '../lab/evaluation/style-evaluation';
import { BrandFidelity } from '../lab/evaluation/brand-fidelity';
import { bestOperatingPoint, FrontierPoint, pairedWinRate, parseNumberList, summarizeBrand, BrandSummary } from '../lab/evaluation/brand-evaluation';
import { loadEmojiImage } from '../lab/emoji-data';
import { writeEmojiBaseModelCard } from '../lab/pretraining/emoji-base.model-card';
import { readTrainingLog, totalTrainingSteps } from '../lab/pretraining/pretrain.trainer';

/**
 * npm run eval -- --json [--base-only] [--model-card] [--model DIR] [--out-dir eval-output] [--base-prompts 64]
 *   [--held-out-prompts 64] [--seeds 4] [--brand-images 48] [--guidance 4] [--sampling-steps 20] [--steps N (fine-tune budget)]
 *   [--methods sft,dro] [--frontier-scales 0.25,0.5,0.75,1,2] [--frontier-budgets 1,3 (multiples of the budget)]
 *   [--capacity-study attention:8,attention+ff:8,blocks:8,blocks:32,all:8 (SFT per LoRA target set and rank, instead of the comparison)]
 *   [--lr X --margin M … (both methods), --dro-lr X, --sft-steps N … (one method); see fine-tune-args.ts]
 * Base: concept top-5 and style accuracy on training-concept prompts. Full: trains SFT and DRO adapters on
 * OpenMoji brand images and compares base, SFT and DRO on held-out prompts (same seeds and sampler) by brand
 * fidelity (similarity to the real OpenMoji rendering, brand-fidelity.ts) and concept top-5, with paired win
 * rates (95% bootstrap over prompts), memorization of the training captions, and a frontier over adapter
 * scale and budget. The style probability (with the scorer's rejection class) is kept as a secondary number.
 */
runCli(async () => {
  const args = new CliArgs();
  const json = args.flag('json');
  const baseOnly = args.flag('base-only');
  const modelDir = args.optionalString('model') ?? (await resolveDefaultModelDir());
  const outDir = path.resolve(args.string('out-dir', 'eval-output'));
  const basePrompts = args.number('base-prompts', 64);
  const heldOutPrompts = args.number('held-out-prompts', 64);
  const nSeeds = args.number('seeds', 4);
  const methods = args.string('methods', 'sft,dro').split(',').map((m) => m.trim()) as ('sft' | 'dro')[];
  if (methods.length === 0 || methods.some((m) => m !== 'sft' && m !== 'dro')) throw new Error('--methods lists sft and/or dro');
  const frontierScales = parseNumberList(args.string('frontier-scales', '0.25,0.5,0.75,1,2'), 'frontier-scales');
  const frontierBudgets = parseNumberList(args.string('frontier-budgets', '1,3'), 'frontier-budgets');
  if (!frontierBudgets.includes(1)) frontierBudgets.unshift(1);
  const brandImages = args.number('brand-images', 48);
  // --capacity-study attention:8,blocks:8,all:32 … : SFT per target set and rank instead of the comparison.
  const capacityStudy = (args.optionalString('capacity-study') ?? '')
    .split(',')
    .filter((x) => x.trim() !== '')
    .map((item) => {
      const [targets, rank] = item.trim().split(':');
      if (!(LORA_TARGETS as readonly string[]).includes(targets) || !Number.isInteger(Number(rank ?? 8))) throw new Error(`--capacity-study: "${item}" is not <targets>:<rank> with targets one of ${LORA_TARGETS.join(', ')}`);
      return { targets: targets as LoraTargets, rank: Number(rank ?? 8) };
    });
  // Fine-tune hyperparameters: --<flag> for both methods, --sft-<flag> / --dro-<flag> for one.
  const sharedHp = readFineTuneHyperparameters(args);
  const methodHp = { sft: { ...sharedHp, ...readFineTuneHyperparameters(args, 'sft-') }, dro: { ...sharedHp, ...readFineTuneHyperparameters(args, 'dro-') } };
  const threads = args.optionalString('threads');
  // Experiments: reuse adapters written by an earlier run (<dir>/<method>-adapter.safetensors) instead of training.
  const loadAdaptersDir = args.optionalString('load-adapters');
  const timestepWindow = args.number('timestep-window', 1);
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
    const heldOutIds = new Set(sets.heldOut.map((c) => c.id));
    if (sets.brand.some((c) => heldOutIds.has(c.id))) throw new Error('brand images overlap the held-out concepts');
    const demos = await brandDemonstrations(sets.brand, size);
    const cases = casesFor(sets.heldOut, [target], seeds);
    // Ground truth: the real OpenMoji rendering of each held-out concept.
    const realByConcept = new Map<string, Float32Array>();
    for (const c of sets.heldOut) realByConcept.set(c.id, await loadEmojiImage(c, target, size));
    const refs = cases.map((c) => realByConcept.get(c.concept.id)!);
    const fidelity = await BrandFidelity.create(scorer, [...realByConcept.values()], size);
    const judge = async (list: readonly EvalCase[], images: Float32Array[], references: Float32Array[]) => {
      const scores = await scorer.scoreBatch(images, size);
      const fid = await fidelity.score(images, references, size);
      return { images, scores, fid, summary: summarizeBrand(list, scores, fid, target) };
    };
    type Judged = Awaited<ReturnType<typeof judge>>;

    log(`held-out prompts: ${sets.heldOut.length} concepts × ${seeds.length} seeds; base`);
    const heldBase = await judge(cases, await generateCases(pipeline, cases, null, sampling), refs);
    // Memorization: the brand's own training captions, judged against their training images.
    const memoSeeds = seeds.slice(0, Math.min(2, seeds.length));
    const memoCases: EvalCase[] = sets.brand.flatMap((concept, i) => memoSeeds.map((seed) => ({ concept, style: target, prompt: demos[i].caption, seed })));
    const memoRefs = memoCases.map((c) => demos[sets.brand.indexOf(c.concept)].image);
    const memoBase = await judge(memoCases, await generateCases(pipeline, memoCases, null, sampling), memoRefs);

    if (capacityStudy.length > 0) {
      // Which layers must an adapter reach to redraw the brand? SFT per target set and rank, same budget.
      const rows = [];
      for (const { targets, rank } of capacityStudy) {
        log(`capacity study: SFT, targets ${targets}, rank ${rank}`);
        const tuned = await fineTune({ model, demonstrations: demos, method: 'sft', hyperparameters: { ...methodHp.sft, targets, rank, alpha: rank }, intraOpThreads });
        const memo = await judge(memoCases, await generateCases(pipeline, memoCases, tuned.adapter, sampling, 1), memoRefs);
        const held = await judge(cases, await generateCases(pipeline, cases, tuned.adapter, sampling, 1), refs);
        await writeGrid(path.join(outDir, `capacity-${targets}-r${rank}-memorization.png`), memo.images.filter((_, i) => memoCases[i].seed === seeds[0]), size, 8);
        rows.push({
          targets,
          rank,
          trainableParameters: trainableParameters(tuned.adapter),
          stepsPerSecond: +tuned.metrics.stepsPerSecond.toFixed(3),
          memorizationFidelity: memo.summary.fidelity,
          memorizationShareAboveBase: pairedWinRate(fidelities(memo), fidelities(memoBase), memoCases).rate,
          heldOutFidelity: held.summary.fidelity,
          heldOutConceptTop5: held.summary.conceptTop5,
        });
      }
      result.capacity = { steps: methodHp.sft.steps ?? DEFAULT_FINE_TUNE_HYPERPARAMETERS.steps, baseMemorizationFidelity: memoBase.summary.fidelity, baseHeldOutFidelity: heldBase.summary.fidelity, baseHeldOutConceptTop5: heldBase.summary.conceptTop5, rows };
      methods.length = 0;
    }

    const out: Record<string, Record<string, unknown>> = {};
    const main: Record<string, Judged> = {};
    const frontier: Record<string, FrontierPoint[]> = {};
    const memorization: Record<string, unknown> = {};
    const mainScale: Record<string, number> = {};
    const conceptFloor = round(heldBase.summary.conceptTop5 - 0.1);
    for (const method of methods) {
      const baseSteps = methodHp[method].steps ?? DEFAULT_FINE_TUNE_HYPERPARAMETERS.steps;
      frontier[method] = [];
      for (const budget of frontierBudgets) {
        const steps = Math.max(1, Math.round(budget * baseSteps));
        log(`${method}: fine-tuning ${steps} steps on ${demos.length} OpenMoji brand images`);
        const bar = new ProgressBar();
        const tuned = loadAdaptersDir && budget === 1 ? await loadedAdapter(loadAdaptersDir, method) : await fineTune({
          model,
          demonstrations: demos,
          method,
          hyperparameters: { ...methodHp[method], steps },
          intraOpThreads,
          onProgress: (p) => {
            if (!json) bar.update({ step: p.step, totalSteps: p.totalSteps, samplesPerSecond: p.stepsPerSecond, rateUnit: 'steps/s', etaSeconds: (p.totalSteps - p.step) / Math.max(p.stepsPerSecond, 1e-9), values: method === 'dro' ? { loss: p.loss, expertDiff: p.expertDiff, policyDiff: p.policyDiff, active: p.activeFraction } : { loss: p.loss } });
          },
        });
        bar.done();
        const isDefault = budget === 1;
        const scales = isDefault && !frontierScales.includes(DEFAULT_RECOMMENDED_SCALE) ? [...frontierScales, DEFAULT_RECOMMENDED_SCALE] : frontierScales;
        const byScale = new Map<number, Judged>();
        for (const scale of scales) {
          log(`${method}: ${steps} steps, adapter scale ${scale}`);
          const judged = await judge(cases, await generateCases(pipeline, cases, tuned.adapter, sampling, scale, timestepWindow), refs);
          if (frontierScales.includes(scale)) frontier[method].push({ steps, scale, fidelity: judged.summary.fidelity, conceptTop5: judged.summary.conceptTop5 });
          if (isDefault) byScale.set(scale, judged);
        }
        if (isDefault) {
          // DRO as the API runs it (recommended scale); SFT at its best point of the default budget.
          const best = method === 'sft' ? bestOperatingPoint(frontier[method].filter((p) => p.steps === steps), conceptFloor) : null;
          mainScale[method] = best?.scale ?? DEFAULT_RECOMMENDED_SCALE;
          main[method] = byScale.get(mainScale[method])!;
        }
        if (isDefault) {
          await writeLoraFile(path.join(outDir, `${method}-adapter.safetensors`), tuned.adapter);
          // Capacity check at full strength: can the adapter redraw its own training images?
          const memo = await judge(memoCases, await generateCases(pipeline, memoCases, tuned.adapter, sampling, 1), memoRefs);
          // Per training caption (first seed): its training image beside the adapter's rendering.
          const memoTiles = memoCases.flatMap((c, i) => (c.seed === seeds[0] ? [memoRefs[i], memo.images[i]] : []));
          await writeGrid(path.join(outDir, `${method}-memorization.png`), memoTiles, size, 8);
          memorization[method] = {
            scale: 1,
            captions: sets.brand.length,
            cases: memoCases.length,
            fidelity: memo.summary.fidelity,
            baseFidelity: memoBase.summary.fidelity,
            shareAboveBase: pairedWinRate(memo.fid.map((f) => f.fidelity), memoBase.fid.map((f) => f.fidelity), memoCases).rate,
            conceptTop5: memo.summary.conceptTop5,
          };
          out[method] = { ...brandSummaryOf(main[method]), scale: mainScale[method], steps, seconds: +tuned.seconds.toFixed(1), stepsPerSecond: +tuned.metrics.stepsPerSecond.toFixed(3) };
        }
      }
      const m = main[method];
      out[method].fidelityWinRateVsBase = pairedWinRate(fidelities(m), fidelities(heldBase), cases);
      out[method].styleWinRateVsBase = styleWinRate(m.scores, heldBase.scores, target);
      out[method].bestOperatingPoint = bestOperatingPoint(frontier[method], conceptFloor);
    }
    if (methods.length === 0) {
      // Capacity study only.
    } else if (main.dro && main.sft) {
      out.dro.fidelityWinRateVsSft = pairedWinRate(fidelities(main.dro), fidelities(main.sft), cases);
      out.dro.styleWinRateVsSft = styleWinRate(main.dro.scores, main.sft.scores, target);
    }

    // One grid: per held-out prompt (first seed) the real OpenMoji rendering, then base and each method.
    const tiles: Float32Array[] = [];
    cases.forEach((c, i) => {
      if (c.seed !== seeds[0]) return;
      tiles.push(refs[i], heldBase.images[i], ...methods.map((mm) => main[mm].images[i]));
    });
    await writeGrid(path.join(outDir, `held-out-real-base-${methods.join('-')}.png`), tiles, size, 2 + methods.length);
    await writeGrid(path.join(outDir, 'brand-demonstrations.png'), demos.map((d) => d.image), size, 8);
    Object.assign(result.base as object, {
      heldOutConceptTop5: heldBase.summary.conceptTop5,
      heldOutFidelity: heldBase.summary.fidelity,
      heldOutStyleScore: heldBase.summary.styleScore,
      heldOutRejectedShare: heldBase.summary.rejectedShare,
    });
    for (const method of methods) result[method] = out[method];
    result.memorization = memorization;
    result.frontier = frontier;
    result.conceptFloor = conceptFloor;
    result.fineTune = {
      ...Object.fromEntries(methods.map((mm) => [mm, { ...DEFAULT_FINE_TUNE_HYPERPARAMETERS, ...methodHp[mm] }])),
      brandImages: demos.length,
      heldOutCases: cases.length,
      frontierBudgets,
      frontierScales,
    };
  }
  await pipeline.release();
  await scorer.release();
  result.seconds = Math.round((Date.now() - started) / 1000);
  await fsp.mkdir(outDir, { recursive: true });
  await fsp.writeFile(path.join(outDir, 'eval.json'), JSON.stringify(result, null, 2));
  console.log(JSON.stringify(result));
});

async function loadedAdapter(dir: string, method: string) {
  const { adapter } = await readLoraFile(path.join(dir, `${method}-adapter.safetensors`));
  return { adapter, seconds: 0, metrics: { stepsPerSecond: 0 } };
}

function brandSummaryOf(j: { summary: BrandSummary }): Record<string, unknown> {
  return { ...j.summary };
}

/** LoRA parameters: rank · (in + out) per layer. */
function trainableParameters(adapter: LoraAdapter): number {
  let n = 0;
  for (const l of adapter.layers.values()) n += l.rank * (l.inFeatures + l.outFeatures);
  return n;
}

function fidelities(j: { fid: { fidelity: number }[] }): number[] {
  return j.fid.map((f) => f.fidelity);
}
