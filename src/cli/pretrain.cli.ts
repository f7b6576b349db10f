import * as os from 'os';
import * as path from 'path';
import { CliArgs, runCli } from './cli-args';
import { BASE_TRAINING_STYLES } from '../lab/emoji-data';
import { captionVocabulary, createEmojiBaseModel, loadEmojiBaseTrainingSet, EMOJI_BASE_TRAINING_STEPS, EMOJI_BASE_TRAINING, DEFAULT_PRETRAIN_LR } from '../lab/pretraining/emoji-base.recipe';
import { pretrain, readTrainingLog, ScheduleChange } from '../lab/pretraining/pretrain.trainer';
import { ProgressBar, formatDuration, loadDiffusionModel, writeFileAtomic, CheckpointStore } from '../engine';
import * as fsp from 'fs/promises';
import { DEFAULT_FOCUS_TIMESTEPS } from '../lab/pretraining/focus-sampler';

/**
 * npm run pretrain -- [--out models/emoji-base] [--steps 24500] [--batch 64] [--resume]
 *   [--checkpoint-dir DIR] [--lr 3e-4] [--threads N] [--limit N] [--seed 0]
 *   [--focus-share 0] [--focus-power 1] [--focus-refresh 1000]
 * Trains the bundled base model on Noto + Twemoji (train split) and writes a diffusers folder.
 * --focus-share > 0 draws that share of every batch ∝ (x̂0 error)^power, re-measured every --focus-refresh steps.
 */
runCli(async () => {
  const args = new CliArgs();
  const out = path.resolve(args.string('out', path.join('models', 'emoji-base')));
  const checkpointDir = path.resolve(args.string('checkpoint-dir', path.join(os.homedir(), '.cache', 'style-as-a-service', 'pretrain', path.basename(out))));
  const steps = args.number('steps', EMOJI_BASE_TRAINING_STEPS);
  const batchSize = args.number('batch', 64);
  const resume = args.flag('resume');
  const lr = args.number('lr', DEFAULT_PRETRAIN_LR);
  const threads = args.optionalString('threads');
  const limit = args.optionalString('limit');
  const seed = args.number('seed', 0);
  const checkpointEvery = args.number('checkpoint-every', 500);
  const focusShare = args.number('focus-share', 0);
  const focusPower = args.number('focus-power', 1);
  const focusRefresh = args.number('focus-refresh', 1000);
  if (!(focusShare >= 0 && focusShare <= 1)) throw new Error(`--focus-share must be in [0, 1], got ${focusShare}`);
  if (!(focusPower > 0) || !(focusRefresh >= 1)) throw new Error('--focus-power must be > 0 and --focus-refresh ≥ 1');
  args.rejectUnknown();

  const { trainConcepts: train, data, trainingDataJson } = await loadEmojiBaseTrainingSet(limit ? Number(limit) : undefined);
  const model = createEmojiBaseModel(captionVocabulary(train));
  let startFrom: { step: number; trainSeconds: number } | undefined;
  let scheduleChanges: ScheduleChange[] = [];
  const exported = await fsp.access(path.join(out, 'model_index.json')).then(() => true, () => false);
  if (resume && exported) {
    const previous = await readTrainingLog(out);
    if (previous?.phases?.length) {
      // Resuming here would replace weights trained further by scripts/cuda-pretrain.py with this engine's older ones.
      throw new Error(`${out} was trained on after npm run pretrain (${previous.phases.length} phase(s) of scripts/cuda-pretrain.py in training_log.json): pass --out with another folder, or continue it with scripts/cuda-pretrain.py --init`);
    }
    scheduleChanges = previous?.scheduleChanges ?? [];
    if (previous && (previous.scheduleSteps !== steps || previous.lr !== lr)) {
      const lrChange = previous.lr !== lr ? { fromLr: previous.lr, toLr: lr } : {};
      scheduleChanges = [...scheduleChanges, { atStep: previous.steps, fromSteps: previous.scheduleSteps, toSteps: steps, ...lrChange }];
      console.error(`schedule: ${previous.scheduleSteps} → ${steps} steps, peak lr ${previous.lr} → ${lr}, from step ${previous.steps} on`);
    }
    // The vocabulary and configs are part of the trained model: keep the saved ones.
    const saved = await loadDiffusionModel(out);
    Object.assign(model, { tokenizer: saved.tokenizer, tokenizerFiles: saved.tokenizerFiles, textConfig: saved.textConfig, unetConfig: saved.unetConfig });
    if (!(await new CheckpointStore(checkpointDir).load())) {
      // No checkpoint on this machine: continue from the exported (EMA) weights and the logged step.
      if (!previous) throw new Error(`cannot resume: no checkpoint in ${checkpointDir} and no training_log.json in ${out}`);
      Object.assign(model, { unetParams: saved.unetParams, textParams: saved.textParams });
      startFrom = { step: previous.steps, trainSeconds: previous.trainHours * 3600 };
      console.error(`no checkpoint in ${checkpointDir}: continuing from the exported weights at step ${previous.steps}`);
    }
  }
  console.error(`pretraining ${path.relative(process.cwd(), out)}: ${data.count} images (${limit ? Math.min(Number(limit), train.length) : train.length} concepts × ${BASE_TRAINING_STYLES.join('+')}), ${steps} steps × batch ${batchSize}${resume ? ', resuming' : ''}`);
  const bar = new ProgressBar();
  const started = Date.now();
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  const result = await pretrain({
    model,
    data,
    outDir: out,
    checkpointDir,
    steps,
    batchSize,
    lr,
    ...EMOJI_BASE_TRAINING,
    seed,
    checkpointEverySteps: checkpointEvery,
    resume,
    startFrom,
    scheduleChanges,
    focus: focusShare > 0 ? { share: focusShare, power: focusPower, refreshEverySteps: focusRefresh, timesteps: DEFAULT_FOCUS_TIMESTEPS } : undefined,
    intraOpThreads: threads ? Number(threads) : undefined,
    signal: ac.signal,
    onProgress: (p) =>
      bar.update({
        step: p.step,
        totalSteps: p.totalSteps,
        samplesPerSecond: p.samplesPerSecond,
        etaSeconds: ((p.totalSteps - p.step) * batchSize) / Math.max(p.samplesPerSecond, 1e-9),
        values: { loss: p.loss, lr: p.lr },
      }),
    extraFiles: async () => ({ 'training_data.json': trainingDataJson }),
  });
  bar.done();
  const summary = {
    steps: result.steps,
    samplesSeen: result.samplesSeen,
    trainHours: +(result.trainSeconds / 3600).toFixed(3),
    samplesPerSecond: +(result.samplesSeen / Math.max(result.trainSeconds, 1e-9)).toFixed(2),
    finalLoss: result.finalLoss,
    wallThisRun: formatDuration((Date.now() - started) / 1000),
  };
  await writeFileAtomic(path.join(checkpointDir, 'summary.json'), JSON.stringify(summary, null, 2));
  console.log(JSON.stringify(summary));
});
