import * as fsp from 'fs/promises';
import * as path from 'path';
import { CliArgs, runCli } from './cli-args';
import { createPipeline, GENERATION_DEFAULTS, InferenceEngine, isSchedulerName, readLoraFile, encodeRgbPng, resolveDefaultModelDir, SCHEDULER_NAMES } from '../engine';

/**
 * npm run generate -- --prompt "red heart, noto style" --out heart.png
 *   [--adapter brand.safetensors --scale 1] [--negative "…"] [--seed 0] [--steps 20] [--guidance 4]
 *   [--scheduler dpmpp-2m|ddim|ddpm|euler|euler-ancestral|pndm] [--num 1] [--width W --height H] [--upscale 8] [--model models/emoji-base] [--engine onnxruntime|tfjs]
 */
runCli(async () => {
  const args = new CliArgs();
  const prompt = args.string('prompt');
  const out = path.resolve(args.string('out'));
  const modelDir = args.optionalString('model') ?? (await resolveDefaultModelDir());
  const adapterPath = args.optionalString('adapter');
  const scale = args.number('scale', GENERATION_DEFAULTS.scale);
  const negativePrompt = args.optionalString('negative');
  const seed = args.number('seed', 0);
  const steps = args.number('steps', GENERATION_DEFAULTS.steps);
  const guidanceScale = args.number('guidance', GENERATION_DEFAULTS.guidanceScale);
  const scheduler = args.string('scheduler', GENERATION_DEFAULTS.scheduler);
  const numImages = args.number('num', GENERATION_DEFAULTS.numImages);
  const upscale = args.number('upscale', 1);
  const width = args.optionalNumber('width');
  const height = args.optionalNumber('height');
  const engine = args.string('engine', 'onnxruntime') as InferenceEngine;
  args.rejectUnknown();
  if (!isSchedulerName(scheduler)) throw new Error(`--scheduler must be one of: ${SCHEDULER_NAMES.join(', ')}`);

  const pipeline = await createPipeline(modelDir, { engine });
  const adapters = adapterPath ? [{ adapter: (await readLoraFile(adapterPath, { moduleShapes: pipeline.moduleShapes })).adapter, scale }] : [];
  const started = Date.now();
  const [result] = await pipeline.generate([{ prompt, negativePrompt, adapters, seed, steps, guidanceScale, scheduler, numImages, width, height }]);
  const written: string[] = [];
  for (let i = 0; i < result.images.length; i++) {
    const file = result.images.length === 1 ? out : out.replace(/(\.png)?$/i, `-${i}.png`);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(file, await encodeRgbPng(result.images[i], result.width, result.height, upscale));
    written.push(file);
  }
  await pipeline.release();
  console.log(JSON.stringify({ files: written, seed, steps, scheduler, guidanceScale, unknownWords: result.unknownWords, model: modelDir, seconds: (Date.now() - started) / 1000 }));
});
