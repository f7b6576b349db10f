import * as os from 'os';
import { CliArgs, runCli } from './cli-args';
import { createPipeline, GENERATION_DEFAULTS, GenerationRequest, TextToImagePipeline, DiffusionModel, loadDiffusionModel, sampleShape, createRandomModel, resolveDefaultModelDir, createLoraAdapter, LoraAdapter, Random, LORA_TARGETS, LoraTargets, isSchedulerName, SCHEDULER_NAMES } from '../engine';
import { measureTrainingThroughput } from '../lab/benchmarks/training-benchmark';
import { isLatentModelFolder, runSdBenchmark } from '../lab/benchmarks/sd-benchmark';
import { exportSdGraphs } from '../lab/benchmarks/sd-onnx-export';

/**
 * npm run bench -- [--json] [--model DIR|random] [--threads N] [--repeats 3]
 * Inference and training throughput. Every comparison is a ratio of two measurements taken in this
 * run on this machine; nothing is compared against stored numbers.
 *
 * An SD-class folder (one with vae/) is measured as Stable Diffusion instead (src/lab/benchmarks/sd-benchmark.ts):
 *   --model DIR [--steps 20] [--guidance 7.5] [--scheduler dpmpp-2m] [--unet-repeats 2] [--extrapolate]
 *   [--lora-targets attention] [--rank 8] [--python $TEST_PYTHON]
 * and `--export OUT --model DIR` writes its ONNX graphs, inputs and CPU outputs for scripts/onnx-cuda-check.py.
 */
runCli(async () => {
  const args = new CliArgs();
  const json = args.flag('json');
  const modelArg = args.optionalString('model');
  const threads = args.optionalString('threads');
  const exportDir = args.optionalString('export');
  const sd = modelArg !== undefined && modelArg !== 'random' && isLatentModelFolder(modelArg);
  const log = (msg: string) => {
    if (!json) console.error(msg);
  };
  const intraOpThreadCount = threads ? Number(threads) : os.availableParallelism();
  if (exportDir !== undefined || sd) {
    if (!modelArg || !sd) throw new Error('--export needs --model with an SD-class folder (one with vae/)');
    const loraTargets = args.string('lora-targets', 'attention');
    if (!(LORA_TARGETS as readonly string[]).includes(loraTargets)) throw new Error(`--lora-targets must be one of ${LORA_TARGETS.join(', ')}`);
    const loraRank = args.number('rank', 8);
    const common = { modelDir: modelArg, intraOpThreads: intraOpThreadCount, loraTargets: loraTargets as LoraTargets, loraRank, log: (m: string) => console.error(m) };
    if (exportDir !== undefined) {
      args.rejectUnknown();
      const { manifest, graphs } = await exportSdGraphs({ ...common, outDir: exportDir });
      console.log(JSON.stringify({ manifest, graphs: graphs.map((g) => ({ name: g.name, cpuSeconds: g.cpuSeconds })) }));
      return;
    }
    const scheduler = args.string('scheduler', 'dpmpp-2m');
    if (!isSchedulerName(scheduler)) throw new Error(`--scheduler must be one of ${SCHEDULER_NAMES.join(', ')}`);
    const options = {
      ...common,
      steps: args.number('steps', 20),
      guidanceScale: args.number('guidance', 7.5),
      scheduler,
      unetRepeats: args.number('unet-repeats', 2),
      fullImage: !args.flag('extrapolate'),
      python: args.optionalString('python') ?? (process.env.TEST_PYTHON?.trim() || null),
      log,
    };
    args.rejectUnknown();
    console.log(JSON.stringify(await runSdBenchmark(options)));
    return;
  }
  const repeats = args.number('repeats', 3);
  args.rejectUnknown();

  let model: DiffusionModel;
  let modelName: string;
  if (modelArg === 'random') {
    model = createRandomModel({ imageSize: 32, channels: [48, 96, 144], crossAttentionDim: 128, maxLength: 24 });
    modelName = 'random';
  } else {
    const dir = modelArg ?? (await resolveDefaultModelDir());
    model = await loadDiffusionModel(dir);
    modelName = dir;
  }
  const intraOpThreads = intraOpThreadCount;
  const ort = await createPipeline(model, { intraOpThreads });
  const adapters = makeAdapters(ort, 8);
  const base = (over: Partial<GenerationRequest> = {}): GenerationRequest => ({
    prompt: 'red heart, noto style',
    seed: 1,
    steps: GENERATION_DEFAULTS.steps,
    guidanceScale: GENERATION_DEFAULTS.guidanceScale,
    scheduler: GENERATION_DEFAULTS.scheduler,
    numImages: 1,
    ...over,
  });

  log('warming up');
  await ort.generate([base({ steps: 2 })]);

  log(`images/s at batch 1 and 8 (${GENERATION_DEFAULTS.steps} steps, guidance ${GENERATION_DEFAULTS.guidanceScale})`);
  const t1 = await median(repeats, () => timeIt(() => ort.generate([base()])));
  const t8 = await median(repeats, () => timeIt(() => ort.generate([base({ numImages: 8 })])));

  log('adapter switching');
  // Every adapter is used once first (as a server's adapter cache would hold it); then single-step
  // requests alternate "same adapter as before" and "a different adapter", in both orders, and the
  // overhead is the median of the paired latency differences.
  await ort.generate(adapters.map((adapter) => base({ steps: 1, adapters: [{ adapter, scale: 1 }] })));
  const pairs = 40;
  const switchSteps = 1;
  const same: number[] = [];
  const diff: number[] = [];
  let current = adapters[0];
  const run = (adapter: LoraAdapter) => timeIt(() => ort.generate([base({ steps: switchSteps, adapters: [{ adapter, scale: 1 }] })]));
  await run(current);
  for (let i = 0; i < pairs; i++) {
    const next = adapters[1 + (i % (adapters.length - 1))] === current ? adapters[0] : adapters[1 + (i % (adapters.length - 1))];
    if (i % 2 === 0) {
      same.push(await run(current));
      diff.push(await run(next));
    } else {
      diff.push(await run(next));
      same.push(await run(next));
    }
    current = next;
  }
  const pairedOverhead = percentile(
    diff.map((d, i) => d - same[i]),
    0.5,
  );

  log('mixed-adapter batch');
  const batchOf = (pick: (i: number) => LoraAdapter) => Array.from({ length: 8 }, (_, i) => base({ seed: i, adapters: [{ adapter: pick(i), scale: 1 }] }));
  const tSameBatch = await median(repeats, () => timeIt(() => ort.generate(batchOf(() => adapters[0]))));
  const tMixedBatch = await median(repeats, () => timeIt(() => ort.generate(batchOf((i) => adapters[i]))));

  log('tfjs reference executor');
  const tfjs = await createPipeline(model, { engine: 'tfjs' });
  const speedSteps = 4;
  const tOrtShort = await median(repeats, () => timeIt(() => ort.generate([base({ steps: speedSteps })])));
  const tTfjsShort = await median(1, () => timeIt(() => tfjs.generate([base({ steps: speedSteps })])));
  const tfjsExecutor = tfjs.parts.denoiser.executor;
  await tfjs.release();
  const ortExecutor = ort.parts.denoiser.executor;
  await ort.release();

  log('training throughput');
  const training = await measureTrainingThroughput({ model, intraOpThreads, log });

  const result = {
    model: modelName,
    imageSize: model.sampleSpace.imageSize,
    sampleShape: sampleShape(model),
    executionProvider: ortExecutor,
    intraOpThreads,
    cpus: os.cpus().length,
    imagesPerSecond: { batch1: round(1 / t1), batch8: round(8 / t8), steps: GENERATION_DEFAULTS.steps, guidanceScale: GENERATION_DEFAULTS.guidanceScale },
    latencyMs: { batch1: round(t1 * 1000), batch8: round(t8 * 1000) },
    adapterSwitchOverheadMs: round(pairedOverhead * 1000, 3),
    adapterSwitchDetail: { steps: switchSteps, pairs, sameAdapterP50Ms: round(percentile(same, 0.5) * 1000), differentAdapterP50Ms: round(percentile(diff, 0.5) * 1000) },
    mixedAdapterBatchThroughputRatio: round(tSameBatch / tMixedBatch, 3),
    mixedAdapterBatchDetail: { sameAdapterBatch8Ms: round(tSameBatch * 1000), eightAdaptersBatch8Ms: round(tMixedBatch * 1000) },
    ortVsTfjsSpeedup: round(tTfjsShort / tOrtShort, 2),
    ortVsTfjsDetail: { steps: speedSteps, ortMs: round(tOrtShort * 1000), tfjsMs: round(tTfjsShort * 1000), tfjsExecutor },
    training,
  };
  console.log(JSON.stringify(result));
});

function makeAdapters(p: TextToImagePipeline, n: number): LoraAdapter[] {
  return Array.from({ length: n }, (_, i) => {
    // Equal ranks, so batches differ only in which adapters they carry.
    const a = createLoraAdapter(p.moduleShapes, { rank: 8, alpha: 8, seed: 100 + i });
    // Trained adapters have non-zero B; random B makes every adapter change the output.
    const rng = new Random(200 + i);
    for (const layer of a.layers.values()) for (let k = 0; k < layer.b.length; k++) layer.b[k] = rng.normal() * 0.01;
    return a;
  });
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

async function median(n: number, fn: () => Promise<number>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(await fn());
  return percentile(xs, 0.5);
}

function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
