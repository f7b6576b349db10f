import { DiffusionModel, sampleShape } from '../../engine/models/diffusion-model';
import { createRandomModel } from '../../engine/models/random-model';
import { attentionProjectionModules } from '../../engine/models/unet-2d-condition.model';
import { ParamMap } from '../../engine/models/param-init';
import { Random } from '../../engine/schedulers';
import { DenoiserTrainingGraph, TrainingGraphSpec, TrainingStepInputs } from '../../engine/training/denoiser-training-graph';
import { TfjsTrainingStep } from '../../engine/training/tfjs-training-step';
import { TrainingStep } from '../../engine/training/training-backend';

interface Throughput {
  fullSamplesPerSecond: number;
  loraSamplesPerSecond: number;
  batch: number;
}

function specFor(model: DiffusionModel, lora: boolean, threads: number): TrainingGraphSpec {
  const params: ParamMap = lora ? model.unetParams : new Map([...model.unetParams, ...model.textParams]);
  return {
    unet: model.unetConfig,
    text: lora ? undefined : model.textConfig,
    params,
    seqLen: model.maxLength,
    sampleShape: sampleShape(model),
    objective: 'weighted-mse',
    lora: lora ? { modules: attentionProjectionModules(model.unetConfig), rank: 8 } : undefined,
    intraOpThreads: threads,
  };
}

function randomInputs(model: DiffusionModel, batch: number, lora: boolean): TrainingStepInputs {
  const rng = new Random(7);
  const [c, h, w] = sampleShape(model);
  const l = model.maxLength;
  return {
    batch,
    inputIds: lora ? undefined : BigInt64Array.from({ length: batch * l }, (_, i) => BigInt(i % model.textConfig.vocab_size)),
    encoderHiddenStates: lora ? rng.randn(batch * l * model.unetConfig.cross_attention_dim) : undefined,
    attentionMask: new Float32Array(batch * l).fill(1),
    noisy: rng.randn(batch * c * h * w),
    timesteps: Float32Array.from({ length: batch }, (_, i) => (i * 97) % 1000),
    target: rng.randn(batch * c * h * w),
    weights: new Float32Array(batch).fill(1 / batch),
  };
}

function trainableValues(step: TrainingStep, spec: TrainingGraphSpec): Map<string, Float32Array> {
  const rng = new Random(3);
  const out = new Map<string, Float32Array>();
  for (const name of step.trainableNames) {
    const p = spec.params.get(name);
    if (p) out.set(name, p.data);
    else {
      const m = /^lora\.(.+)\.(a|b)$/.exec(name)!;
      const [o, i] = spec.params.get(`${m[1]}.weight`)!.shape;
      out.set(name, rng.randn(m[2] === 'a' ? 8 * i : o * 8).map((v) => v * 0.01));
    }
  }
  return out;
}

async function samplesPerSecond(create: (spec: TrainingGraphSpec) => Promise<TrainingStep>, model: DiffusionModel, lora: boolean, batch: number, steps: number, threads: number): Promise<number> {
  const spec = specFor(model, lora, threads);
  const step = await create(spec);
  const inputs = randomInputs(model, batch, lora);
  const values = trainableValues(step, spec);
  await step.step(inputs, values); // warm-up
  const t = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) await step.step(inputs, values);
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  await step.release();
  return Math.round(((batch * steps) / seconds) * 100) / 100;
}

/**
 * Training samples/s for full-parameter and LoRA-only steps: ONNX Runtime gradient graphs on the given
 * model, and both engines on a small model (the pure-JS tfjs backend is too slow for the full one).
 */
export async function measureTrainingThroughput(o: { model: DiffusionModel; intraOpThreads: number; log?: (m: string) => void }): Promise<Record<string, unknown>> {
  const ortCreate = (s: TrainingGraphSpec): Promise<TrainingStep> => DenoiserTrainingGraph.create(s);
  const tfjsCreate = (s: TrainingGraphSpec): Promise<TrainingStep> => TfjsTrainingStep.create(s);
  const small = createRandomModel({ imageSize: 16, channels: [16, 32], crossAttentionDim: 32, maxLength: 8 });
  const measure = async (create: typeof ortCreate, model: DiffusionModel, batch: number, steps: number): Promise<Throughput> => ({
    fullSamplesPerSecond: await samplesPerSecond(create, model, false, batch, steps, o.intraOpThreads),
    loraSamplesPerSecond: await samplesPerSecond(create, model, true, batch, steps, o.intraOpThreads),
    batch,
  });
  o.log?.('  onnxruntime, model under test');
  const ortModel = await measure(ortCreate, o.model, 16, 3);
  o.log?.('  onnxruntime vs tfjs, small model');
  const ortSmall = await measure(ortCreate, small, 8, 3);
  const tfjsSmall = await measure(tfjsCreate, small, 8, 1);
  const tfjsBackend = (await TfjsTrainingStep.create(specFor(small, true, 1))).backend;
  return {
    onnxruntime: ortModel,
    smallModel: { imageSize: 16, channels: [16, 32], onnxruntime: ortSmall, tfjs: { backend: tfjsBackend, ...tfjsSmall } },
    ortVsTfjsTrainingSpeedup: {
      full: Math.round((ortSmall.fullSamplesPerSecond / tfjsSmall.fullSamplesPerSecond) * 10) / 10,
      lora: Math.round((ortSmall.loraSamplesPerSecond / tfjsSmall.loraSamplesPerSecond) * 10) / 10,
    },
  };
}
