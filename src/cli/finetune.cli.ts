import * as path from 'path';
import { CliArgs, runCli } from './cli-args';
import { loadDiffusionModel, resolveDefaultModelDir, readCaptionedImageFolder, fineTune, FineTuneMethod, readLoraFile, writeLoraFile, adaptableModules, loraModuleShapes, CheckpointStore, ProgressBar } from '../engine';
import { readFineTuneHyperparameters } from './fine-tune-args';

/**
 * npm run finetune -- --images <dir of images with .txt captions> --method dro|sft --out adapter.safetensors
 *   [--steps N --rank R --lr X --margin M --batch B --seed S --ema-decay D …] [--model DIR] [--checkpoint-dir DIR] [--resume]
 *   [--resume-from adapter.safetensors [--optimizer-from CHECKPOINT_DIR]]   (online round)
 */
runCli(async () => {
  const args = new CliArgs();
  const imagesDir = args.string('images');
  const method = args.string('method', 'dro') as FineTuneMethod;
  const out = path.resolve(args.string('out'));
  const modelDir = args.optionalString('model') ?? (await resolveDefaultModelDir());
  const hp = readFineTuneHyperparameters(args);
  const checkpointDir = args.optionalString('checkpoint-dir');
  const resume = args.flag('resume');
  const resumeFrom = args.optionalString('resume-from');
  const optimizerFrom = args.optionalString('optimizer-from');
  const threads = args.optionalString('threads');
  args.rejectUnknown();
  if (method !== 'dro' && method !== 'sft') throw new Error('--method must be dro or sft');

  const model = await loadDiffusionModel(modelDir);
  const images = await readCaptionedImageFolder(imagesDir, model.sampleSpace.imageSize);
  if (images.length === 0) throw new Error(`no images in ${imagesDir}`);
  const moduleShapes = loraModuleShapes(model.unetParams, adaptableModules(model.unetConfig));
  const initAdapter = resumeFrom ? (await readLoraFile(resumeFrom, { moduleShapes })).adapter : undefined;
  const initOptimizerState = optimizerFrom ? (await new CheckpointStore(optimizerFrom).load())?.optimizer : undefined;

  console.error(`${method} fine-tune of ${path.basename(modelDir)} on ${images.length} images${initAdapter ? `, continuing from ${resumeFrom}` : ''}`);
  const bar = new ProgressBar();
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  const result = await fineTune({
    model,
    demonstrations: images.map((i) => ({ image: i.image, caption: i.caption })),
    method,
    hyperparameters: hp,
    initAdapter,
    initOptimizerState,
    checkpointDir: checkpointDir ? path.resolve(checkpointDir) : undefined,
    checkpointEvery: 25,
    resume,
    signal: ac.signal,
    intraOpThreads: threads ? Number(threads) : undefined,
    onProgress: (p) =>
      bar.update({
        step: p.step,
        totalSteps: p.totalSteps,
        samplesPerSecond: p.stepsPerSecond,
        rateUnit: 'steps/s',
        etaSeconds: (p.totalSteps - p.step) / Math.max(p.stepsPerSecond, 1e-9),
        values: method === 'dro' ? { loss: p.loss, expert: p.expertDiff, policy: p.policyDiff } : { loss: p.loss },
      }),
  });
  bar.done();
  if (result.canceled) {
    console.error(`canceled at step ${result.steps}${checkpointDir ? `; resume with --checkpoint-dir ${checkpointDir} --resume` : ''}`);
    process.exitCode = 130;
    return;
  }
  await writeLoraFile(out, result.adapter);
  console.log(JSON.stringify({ out, method, steps: result.steps, seconds: +result.seconds.toFixed(1), stepsPerSecond: +result.metrics.stepsPerSecond.toFixed(3), finalLoss: result.metrics.finalLoss }));
});
