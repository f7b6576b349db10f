import * as fsp from 'fs/promises';
import * as os from 'os';
import * as path from 'path';
import { CliArgs, runCli } from './cli-args';
import { emojiPackageVersions } from '../lab/emoji-data';
import { writeFileAtomic, writeSafetensorsFile, ProgressBar, formatDuration, EmojiScorer, scorerParamCount } from '../engine';
import { DEFAULT_SCORER_AUGMENT } from '../lab/scorer/scorer-augment';
import { loadScorerDataset, splitScorerImages, SCORER_HOLDOUT_FRACTION, SCORER_HOLDOUT_SEED } from '../lab/scorer/scorer-data';
import { evaluateScorer, ScorerMetrics, scorerFileConfig, trainEmojiScorer } from '../lab/scorer/scorer.trainer';
import { scorerModelCard } from '../lab/scorer/scorer-model-card';

/**
 * node dist/src/cli/train-scorer.cli.js [--out models/emoji-scorer] [--steps 2200] [--finetune-steps 400]
 *   [--batch 64] [--lr 2e-3] [--threads 1] [--seed 0] [--eval-every 0] [--limit N]
 * Trains the evaluation scorer (style + concept classifier) on Noto, Twemoji and OpenMoji renderings and
 * writes config.json, model.safetensors (fp16) and a model card.
 */
runCli(async () => {
  const args = new CliArgs();
  const out = path.resolve(args.string('out', path.join('models', 'emoji-scorer')));
  const steps = args.number('steps', 2200);
  const finetuneSteps = args.number('finetune-steps', 400);
  const batchSize = args.number('batch', 64);
  const lr = args.number('lr', 2e-3);
  const threads = args.number('threads', 1);
  const seed = args.number('seed', 0);
  const evalEvery = args.number('eval-every', 0);
  const limit = args.optionalString('limit');
  args.rejectUnknown();

  const wallStart = Date.now();
  const data = await loadScorerDataset({ limit: limit ? Number(limit) : undefined });
  const split = splitScorerImages(data);
  console.error(
    `scorer data: ${data.count} images, ${data.conceptIds.length} concepts × ${data.styles.join('+')}; ` +
      `${split.heldOut.length} held-out renderings, ${split.train.length} train`,
  );
  const bar = new ProgressBar();
  const hyper = {
    seed,
    batch_size: batchSize,
    split_phase: { steps, lr, warmupSteps: 100, minLrRatio: 0.02 },
    finetune_phase: { steps: finetuneSteps, lr: lr * 0.25, warmupSteps: 20, minLrRatio: 0.02 },
    weight_decay: 0.05,
    grad_clip: 2,
    ema_decay: 0.998,
    label_smoothing: 0.1,
    feature_dropout: 0,
    augment: DEFAULT_SCORER_AUGMENT,
    intra_op_threads: threads,
  };
  const result = await trainEmojiScorer({
    data,
    split,
    seed,
    batchSize,
    splitPhase: hyper.split_phase,
    finetunePhase: hyper.finetune_phase,
    weightDecay: hyper.weight_decay,
    gradClip: hyper.grad_clip,
    emaDecay: hyper.ema_decay,
    labelSmoothing: hyper.label_smoothing,
    featureDropout: hyper.feature_dropout,
    augment: hyper.augment,
    intraOpThreads: threads,
    evalEvery,
    onProgress: (p) =>
      bar.update(
        {
          step: p.step,
          totalSteps: p.totalSteps,
          samplesPerSecond: p.samplesPerSecond,
          etaSeconds: ((p.totalSteps - p.step) * batchSize) / Math.max(p.samplesPerSecond, 1e-9),
          values: { loss: p.loss, lr: p.lr, style: p.trainStyleAccuracy, concept: p.trainConceptAccuracy },
        },
        p.step === p.totalSteps,
      ),
    onEval: (step, m) => console.error(`\nheld-out after ${step} steps: ${formatMetrics(m)}`),
  });
  bar.done();

  // Ship fp16 and report the final model's numbers as stored.
  await fsp.mkdir(out, { recursive: true });
  const fileConfig = scorerFileConfig(result.config, data);
  await writeSafetensorsFile(path.join(out, 'model.safetensors'), result.params, {
    dtype: 'F16',
    metadata: { format: 'pt', model: 'emoji-scorer' },
  });
  await writeFileAtomic(path.join(out, 'config.json'), `${JSON.stringify(fileConfig, null, 2)}\n`);
  const shipped = await EmojiScorer.load(out, { intraOpThreads: threads, executionProvider: 'cpu' });
  const finalAll = await evaluateScorer(shipped, data, Array.from({ length: data.count }, (_, i) => i));
  await shipped.release();
  const wallSeconds = (Date.now() - wallStart) / 1000;

  const report = {
    parameters: scorerParamCount(result.config),
    held_out: {
      description: `one unseen rendering each of ${split.heldOut.length} concepts (${SCORER_HOLDOUT_FRACTION * 100}% of those with two or more renderings, seed ${SCORER_HOLDOUT_SEED}), scored by the split model (EMA weights) before any training on them`,
      ...round(result.heldOut),
    },
    final_all_images: {
      description: 'shipped fp16 weights on every real image (all were trained on in the final phase)',
      ...round(finalAll),
    },
    training: {
      ...hyper,
      images: data.count,
      held_out_images: split.heldOut.length,
      samples_seen: result.samplesSeen,
      train_seconds: Math.round(result.trainSeconds),
      wall_seconds: Math.round(wallSeconds),
      samples_per_second: Number(result.samplesPerSecond.toFixed(1)),
      cpu: `${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores, ${threads} ONNX Runtime thread${threads === 1 ? '' : 's'})`,
      packages: emojiPackageVersions(),
    },
  };
  await writeFileAtomic(path.join(out, 'config.json'), `${JSON.stringify({ ...fileConfig, ...report }, null, 2)}\n`);
  await writeFileAtomic(path.join(out, 'README.md'), scorerModelCard(report, fileConfig.concept_ids.length, data.count));
  console.error(`held-out: ${formatMetrics(result.heldOut)}`);
  console.error(`final (all images, fp16): ${formatMetrics(finalAll)}`);
  console.error(
    `wrote ${path.relative(process.cwd(), out)}: ${result.samplesSeen} samples in ${formatDuration(result.trainSeconds)} ` +
      `(${result.samplesPerSecond.toFixed(1)} samples/s), wall ${formatDuration(wallSeconds)}`,
  );
});

function formatMetrics(m: ScorerMetrics): string {
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  return `${m.images} images, style ${pct(m.styleAccuracy)}, concept top-1 ${pct(m.conceptTop1)}, top-5 ${pct(m.conceptTop5)}`;
}

function round(m: ScorerMetrics): ScorerMetrics {
  const r = (v: number) => Number(v.toFixed(4));
  const perStyle: ScorerMetrics['perStyle'] = {};
  for (const [k, v] of Object.entries(m.perStyle)) {
    perStyle[k as keyof ScorerMetrics['perStyle']] = { images: v.images, styleAccuracy: r(v.styleAccuracy), conceptTop1: r(v.conceptTop1), conceptTop5: r(v.conceptTop5) };
  }
  return { images: m.images, styleAccuracy: r(m.styleAccuracy), conceptTop1: r(m.conceptTop1), conceptTop5: r(m.conceptTop5), perStyle };
}
