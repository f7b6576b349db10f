/**
 * Stable Diffusion 1.5 at real size on this machine: seconds per 512×512 image (text encoding, the
 * guided UNet steps at batch 2, the VAE decode), the VAE decode alone, peak resident memory and one
 * LoRA training step (batch 1, 64×64 latent), each beside PyTorch-CPU on the same weights measured
 * in the same run (scripts/sd-torch-bench.py, which first checks that its UNet, text encoder, VAE and
 * training step reproduce the engine's numbers). Components are composed directly: text encoder,
 * UNet executor, scheduler, classifier-free guidance and OrtAutoencoderKl.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadDiffusionModel, DiffusionModel, tokenizeCaptions } from '../../engine/models/diffusion-model';
import { readComponentConfig, readComponentWeights } from '../../engine/io/model-folder';
import { writeSafetensorsFile, type NamedTensor } from '../../engine/io/safetensors';
import { parseAutoencoderKlConfig, AutoencoderKlConfig, vaeScaleFactor } from '../../engine/models/autoencoder-kl.model';
import type { ParamMap } from '../../engine/models/param-init';
import { loraTargetModules, LoraTargets } from '../../engine/models/lora-targets';
import { OrtTextEncoder, OrtUNetDenoiser } from '../../engine/pipeline/onnx-executors';
import { OrtAutoencoderKl } from '../../engine/pipeline/vae-executors';
import { applyClassifierFreeGuidance } from '../../engine/pipeline/classifier-free-guidance';
import { DenoiserTrainingGraph, TrainingStepInputs } from '../../engine/training/denoiser-training-graph';
import { moduleShapeOfWeight } from '../../engine/lora/lora-adapter';
import { createScheduler, CustomTimestepSchedulerName, Random, SchedulerName } from '../../engine/schedulers';

export interface SdBenchOptions {
  modelDir: string;
  intraOpThreads: number;
  steps: number;
  guidanceScale: number;
  scheduler: SchedulerName;
  /** Timed UNet evaluations at batch 2 (after one warm-up). */
  unetRepeats: number;
  /** Run the whole image once; otherwise its time is extrapolated from the per-part timings. */
  fullImage: boolean;
  loraTargets: LoraTargets;
  loraRank: number;
  /** Python with PyTorch for the baseline (TEST_PYTHON); null skips it. */
  python: string | null;
  log: (m: string) => void;
}

export const SD_PROMPT = 'a watercolor painting of a red fox in the snow';

/** Whether a model folder is SD-class (has an AutoencoderKL): the bench then measures it this way. */
export function isLatentModelFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'vae', 'config.json'));
}

export async function loadVae(dir: string): Promise<{ config: AutoencoderKlConfig; params: ParamMap }> {
  const config = parseAutoencoderKlConfig(await readComponentConfig(dir, 'vae'));
  const weights = await readComponentWeights(dir, 'vae');
  return { config, params: new Map([...weights.tensors].map(([k, v]) => [k, { shape: v.shape, data: v.data }])) };
}

/** LoRA factors for a training graph (shared over the batch: [1, r, in] and [1, out, r]), B non-zero so every gradient flows. */
export function randomTrainingLora(model: DiffusionModel, modules: string[], rank: number, seed: number): Map<string, Float32Array> {
  const rng = new Random(seed);
  const out = new Map<string, Float32Array>();
  for (const m of modules) {
    const [o, i] = moduleShapeOfWeight(model.unetParams.get(`${m}.weight`)!.shape);
    out.set(`lora.${m}.a`, rng.randn(rank * i).map((v) => v / Math.sqrt(i)));
    out.set(`lora.${m}.b`, rng.randn(o * rank).map((v) => v * 0.01));
  }
  return out;
}

const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
async function timed<V>(fn: () => Promise<V>): Promise<[V, number]> {
  const t0 = process.hrtime.bigint();
  const v = await fn();
  return [v, seconds(t0)];
}
const rssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; // as numpy.median, which the PyTorch side uses
};
const tensor = (data: Float32Array, shape: number[]): NamedTensor => ({ data, shape });

function collectGarbage(): void {
  // `npm run bench` starts node with --expose-gc: the engine's weights are freed before PyTorch loads its own.
  (globalThis as { gc?: () => void }).gc?.();
}

/** The engine side: every timing, plus the inputs and outputs PyTorch must reproduce (written to `ioFile`). */
async function measureEngine(o: SdBenchOptions, ioFile: string): Promise<Record<string, unknown>> {
  const ort = { intraOpThreads: o.intraOpThreads };
  const [model, loadSeconds] = await timed(() => loadDiffusionModel(o.modelDir));
  const vae = await loadVae(o.modelDir);
  const [c, h, w] = [model.unetConfig.in_channels, model.unetConfig.sample_size, model.unetConfig.sample_size];
  const imageSize = h * vaeScaleFactor(vae.config);
  const l = model.maxLength;
  const d = model.unetConfig.cross_attention_dim;
  const io: Record<string, NamedTensor> = {};
  const rng = new Random(1234);
  o.log(`loaded ${o.modelDir} in ${loadSeconds.toFixed(1)} s (latent ${c}×${h}×${w}, image ${imageSize}², RSS peak ${rssMb()} MB)`);

  // Text encoder: the prompt and the empty negative prompt in one batch, as the pipeline encodes them.
  const [text, textCreate] = await timed(() => OrtTextEncoder.create(model, ort));
  const { inputIds } = tokenizeCaptions(model, [SD_PROMPT, '']);
  const ones = new Float32Array(2 * l).fill(1); // SD-1.5 feeds no padding mask
  await text.encode(inputIds, ones, 2);
  const textTimes: number[] = [];
  let hidden: Float32Array = new Float32Array(0);
  for (let i = 0; i < 3; i++) {
    const [hs, s] = await timed(() => text.encode(inputIds, ones, 2));
    hidden = hs;
    textTimes.push(s);
  }
  io.text_ids = tensor(Float32Array.from(inputIds, Number), [2, l]);
  io.text_hidden = tensor(hidden, [2, l, d]);

  o.log('UNet session (weights through an external data file)');
  const [unet, unetCreate] = await timed(() => OrtUNetDenoiser.create(model, [], ort));
  const sampleLen = c * h * w;
  const batch = (sample: Float32Array, t: number) => ({ batch: 2, sample, timesteps: Float32Array.of(t, t), encoderHiddenStates: hidden, encoderMask: ones, lora: null });
  await unet.predict(batch(rng.randn(2 * sampleLen), 999)); // warm-up
  const unetTimes: number[] = [];
  for (let i = 0; i < o.unetRepeats; i++) {
    const sample = rng.randn(2 * sampleLen);
    const t = 900 - 100 * i;
    const [out, s] = await timed(() => unet.predict(batch(sample, t)));
    unetTimes.push(s);
    o.log(`  UNet batch 2: ${s.toFixed(2)} s`);
    if (i === 0) {
      io.unet_sample = tensor(sample, [2, c, h, w]);
      io.unet_timesteps = tensor(Float32Array.of(t, t), [2]);
      io.unet_out = tensor(out, [2, c, h, w]);
    }
  }

  const decoder = await timed(() => OrtAutoencoderKl.create(vae.config, vae.params, imageSize, ort));
  const [vaeSession, vaeCreate] = decoder;
  const scheduler = createScheduler(o.scheduler as CustomTimestepSchedulerName, model.schedulerConfig);
  scheduler.setTimesteps(o.steps);
  const evaluations = scheduler.timesteps.length;

  let image: Float32Array | null = null;
  let imageSeconds: number | null = null;
  if (o.fullImage) {
    o.log(`whole image: text encoding, ${evaluations} guided UNet evaluations at batch 2 (${o.scheduler}), VAE decode`);
    const noise = rng.randn(sampleLen);
    const t0 = process.hrtime.bigint();
    const ctx = await text.encode(inputIds, ones, 2);
    let x: Float32Array = noise.map((v) => v * scheduler.initNoiseSigma);
    for (const t of scheduler.timesteps) {
      const scaled = scheduler.scaleModelInput(x, t);
      const rows = new Float32Array(2 * sampleLen);
      rows.set(scaled, 0);
      rows.set(scaled, sampleLen);
      const out = await unet.predict({ batch: 2, sample: rows, timesteps: Float32Array.of(t, t), encoderHiddenStates: ctx, encoderMask: ones, lora: null });
      x = scheduler.step(applyClassifierFreeGuidance(out, 1, [o.guidanceScale]), t, x);
    }
    image = await vaeSession.decode(x.map((v) => v / vae.config.scaling_factor), 1);
    imageSeconds = seconds(t0);
    o.log(`  ${imageSeconds.toFixed(1)} s per image`);
    if (!image.every(Number.isFinite)) throw new Error('the generated image has non-finite values');
  }
  await unet.release();

  // The VAE decode alone, on a warm session (the whole image's decode, or one untimed decode, warmed it).
  const latents = rng.randn(sampleLen).map((v) => v / vae.config.scaling_factor);
  if (!image) await vaeSession.decode(latents, 1);
  const [decoded, vaeSeconds] = await timed(() => vaeSession.decode(latents, 1));
  io.vae_latents = tensor(latents, [1, c, h, w]);
  io.vae_image = tensor(decoded, [1, vae.config.out_channels, imageSize, imageSize]);
  await Promise.all([vaeSession.release(), text.release()]);
  const inferencePeakRssMb = rssMb();

  o.log(`LoRA training step: rank ${o.loraRank} on ${o.loraTargets}, batch 1, latent ${h}×${w}`);
  const modules = loraTargetModules(model.unetConfig, o.loraTargets);
  collectGarbage(); // the inference graphs' transposed weight copies
  const [train, trainCreate] = await timed(() =>
    DenoiserTrainingGraph.create({ unet: model.unetConfig, params: model.unetParams, seqLen: l, sampleShape: [c, h, w], objective: 'weighted-mse', lora: { modules, rank: o.loraRank }, intraOpThreads: o.intraOpThreads }),
  );
  const factors = randomTrainingLora(model, modules, o.loraRank, 77);
  // Every session is built: the JS copies of the weights can go before the training step's activations come.
  for (const params of [model.unetParams, model.textParams, vae.params]) params.clear();
  collectGarbage();
  const inputs: TrainingStepInputs = {
    batch: 1,
    attentionMask: new Float32Array(l).fill(1),
    encoderHiddenStates: hidden.slice(0, l * d),
    noisy: rng.randn(sampleLen),
    timesteps: Float32Array.of(500),
    target: rng.randn(sampleLen),
    weights: Float32Array.of(1),
  };
  const [, firstStep] = await timed(() => train.step(inputs, factors));
  const [result, stepSeconds] = await timed(() => train.step(inputs, factors));
  o.log(`  first step ${firstStep.toFixed(1)} s, second ${stepSeconds.toFixed(1)} s`);
  await train.release();
  io.train_noisy = tensor(inputs.noisy, [1, c, h, w]);
  io.train_timesteps = tensor(inputs.timesteps, [1]);
  io.train_target = tensor(inputs.target, [1, c, h, w]);
  io.train_context = tensor(inputs.encoderHiddenStates!, [1, l, d]);
  io.train_loss = tensor(Float32Array.of(result.loss), [1]);
  for (const [name, value] of factors) {
    const dims = name.endsWith('.a') ? [o.loraRank, value.length / o.loraRank] : [value.length / o.loraRank, o.loraRank];
    io[name] = tensor(value, dims);
    io[`grad:${name}`] = tensor(result.grads.get(name)!, dims);
  }
  await writeSafetensorsFile(ioFile, io);
  if (process.env.SD_BENCH_KEEP_IO) fs.copyFileSync(ioFile, process.env.SD_BENCH_KEEP_IO);

  const perStep = median(unetTimes);
  const textSeconds = median(textTimes);
  const fromParts = textSeconds + evaluations * perStep + vaeSeconds;
  return {
    imageSize,
    latentShape: [c, h, w],
    loadSeconds: round(loadSeconds, 1),
    sessionCreateSeconds: { textEncoder: round(textCreate, 1), unet: round(unetCreate, 1), vae: round(vaeCreate, 1), training: round(trainCreate, 1) },
    textEncodeSeconds: round(textSeconds),
    unetStepSeconds: round(perStep),
    unetStepSamples: unetTimes.map((s) => round(s)),
    unetEvaluationsPerImage: evaluations,
    secondsPerImage: imageSeconds !== null ? round(imageSeconds, 2) : round(fromParts, 2),
    secondsPerImageMeasured: imageSeconds !== null,
    // Text encoding + evaluations × the UNet step + the VAE decode: how PyTorch's per-image figure is made.
    secondsPerImageFromParts: round(fromParts, 2),
    vaeDecodeSeconds: round(vaeSeconds),
    trainingStepSeconds: round(stepSeconds),
    trainingFirstStepSeconds: round(firstStep),
    loraModules: modules.length,
    peakRssMb: { afterInference: inferencePeakRssMb, afterTraining: rssMb() },
    moduleList: modules,
  };
}

/** Runs the PyTorch baseline script and returns its JSON line. */
function runPytorch(o: SdBenchOptions, ioFile: string, modules: string[], evaluations: number): Promise<Record<string, unknown>> {
  const script = path.resolve(__dirname, '..', '..', '..', '..', 'scripts', 'sd-torch-bench.py');
  const modulesFile = `${ioFile}.modules.json`;
  fs.writeFileSync(modulesFile, JSON.stringify(modules));
  const args = [script, '--model', o.modelDir, '--io', ioFile, '--lora-modules', modulesFile, '--lora-rank', String(o.loraRank), '--threads', String(o.intraOpThreads), '--unet-repeats', String(o.unetRepeats), '--evaluations', String(evaluations)];
  return new Promise((resolve, reject) => {
    // PyTorch's OpenMP threads spin while idle unless told not to; passive waiting matches ORT's behaviour on a shared machine.
    const child = spawn(o.python!, args, { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: String(o.intraOpThreads) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      for (const line of b.toString().split('\n')) if (line.trim()) o.log(`  [pytorch] ${line}`);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`scripts/sd-torch-bench.py exited with ${code}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!));
      } catch (e) {
        reject(new Error(`scripts/sd-torch-bench.py printed no JSON line: ${(e as Error).message}`));
      }
    });
  });
}

export async function runSdBenchmark(o: SdBenchOptions): Promise<Record<string, unknown>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sd-bench-'));
  const ioFile = path.join(dir, 'engine-io.safetensors');
  try {
    const engine = await measureEngine(o, ioFile);
    collectGarbage();
    const { moduleList, imageSize: _size, latentShape: _shape, ...onnxruntime } = engine as { moduleList: string[] } & Record<string, unknown>;
    let pytorch: Record<string, unknown> | null = null;
    if (o.python) {
      o.log('PyTorch baseline on the same weights');
      pytorch = await runPytorch(o, ioFile, moduleList, Number(engine.unetEvaluationsPerImage));
    }
    const ratio = (key: string, engineKey = key) => (pytorch && typeof pytorch[key] === 'number' ? round((pytorch[key] as number) / (engine[engineKey] as number), 2) : null);
    return {
      model: o.modelDir,
      benchmark: 'stable-diffusion',
      imageSize: engine.imageSize,
      latentShape: engine.latentShape,
      settings: { steps: o.steps, scheduler: o.scheduler, guidanceScale: o.guidanceScale, unetBatch: 2, loraTargets: o.loraTargets, loraRank: o.loraRank, trainingBatch: 1, intraOpThreads: o.intraOpThreads, cpus: os.cpus().length },
      onnxruntime,
      pytorch,
      // PyTorch seconds / ONNX Runtime seconds: above 1, ONNX Runtime is faster (per image: both sides from their parts).
      ortSpeedupOverPytorch: pytorch
        ? { unetStep: ratio('unetStepSeconds'), vaeDecode: ratio('vaeDecodeSeconds'), textEncode: ratio('textEncodeSeconds'), trainingStep: ratio('trainingStepSeconds'), secondsPerImage: ratio('secondsPerImage', 'secondsPerImageFromParts') }
        : null,
      pytorchSkipped: pytorch ? undefined : 'set TEST_PYTHON (a Python with PyTorch and NumPy) or --python for the PyTorch-CPU baseline',
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
