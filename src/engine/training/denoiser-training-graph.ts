import { moduleShapeOfWeight } from '../lora/lora-adapter';
import * as ort from 'onnxruntime-node';
import { OnnxGraphOps, Sym } from '../graph/onnx-graph-ops';
import { initializerBytes, type OnnxModel } from '../onnx/onnx-model';
import { createSession, EXTERNAL_DATA_AUTO_BYTES } from '../onnx/ort-session';
import { UNetConfig } from '../models/unet-config';
import { unetForward } from '../models/unet-2d-condition.model';
import { ClipTextConfig, clipTextForward } from '../models/clip-text.model';
import { ParamMap } from '../models/param-init';

/**
 * Training step graphs executed by ONNX Runtime: forward, loss and reverse-mode gradients in one
 * session. Three objectives share the builder:
 * - `weighted-mse` (full model, text encoder included): loss = Σ_i w_i · mse_i — pretraining.
 * - `weighted-mse` with LoRA: frozen base as initializers, LoRA factors as trainable inputs — SFT.
 * - `dro-hinge` with LoRA: the batch holds B expert then B policy samples; with reference losses fed
 *   in, loss = mean_i max(0, (mse_e(φ) − mse_e(ref)) − (mse_p(φ) − mse_p(ref)) + margin) — Diffusion-DRO —
 *   plus Σ_i w_i · mse_i over the same rows (an SFT anchor on the expert rows; zero weights: none) and
 *   over any rows after the pairs (output preservation).
 */
export type TrainingObjective = 'weighted-mse' | 'dro-hinge';

export interface TrainingGraphSpec {
  unet: UNetConfig;
  /** Present when the text encoder is trained jointly (full pretraining); otherwise embeddings are inputs. */
  text?: ClipTextConfig;
  params: ParamMap;
  seqLen: number;
  /** Per-sample tensor shape [C, H, W] the UNet sees. */
  sampleShape: [number, number, number];
  objective: TrainingObjective;
  /** Train these LoRA modules (rank r) on a frozen base instead of all parameters. */
  lora?: { modules: string[]; rank: number };
  margin?: number;
  /**
   * dro-hinge: the hinge pairs the first 2·P rows (P expert, then P policy); rows after them only add
   * to the weighted term (output preservation). Default: every row is in a pair.
   */
  hingePairs?: number;
  intraOpThreads?: number;
}

export interface TrainingStepInputs {
  /** [B, L] token ids, when the text encoder is in the graph. */
  inputIds?: BigInt64Array;
  attentionMask: Float32Array;
  /** [B, L, D] text embeddings, when the text encoder is not in the graph. */
  encoderHiddenStates?: Float32Array;
  noisy: Float32Array;
  timesteps: Float32Array;
  target: Float32Array;
  /** weighted-mse: per-sample weights (already divided by the batch size as wanted); dro-hinge: anchor weights (default zero). */
  weights?: Float32Array;
  /** dro-hinge: per-sample reference losses, same order as the batch. */
  referenceMse?: Float32Array;
  batch: number;
}

export interface TrainingStepResult {
  loss: number;
  perSampleMse: Float32Array;
  grads: Map<string, Float32Array>;
}

/** The training step as one ONNX graph (loss, per-sample MSE and a grad:<name> output per trainable input). */
export function buildTrainingGraph(spec: TrainingGraphSpec): { model: OnnxModel; trainableNames: string[] } {
  const trainFull = !spec.lora;
  const g = new OnnxGraphOps({
    params: spec.params,
    trainableParams: trainFull ? () => true : undefined,
    differentiable: true,
    lora: spec.lora ? { modules: spec.lora.modules, perSample: false, rank: spec.lora.rank, trainable: true } : undefined,
  });
  const [c, h, w] = spec.sampleShape;
  const l = spec.seqLen;
  const mask = g.input('attention_mask', [-1, l]);
  let ctx: Sym;
  if (spec.text) {
    const ids = g.input('input_ids', [-1, l], 'int64');
    ctx = clipTextForward(g, spec.text, ids, mask);
  } else {
    ctx = g.input('encoder_hidden_states', [-1, l, spec.unet.cross_attention_dim]);
  }
  const crossBias = g.reshape(g.scale(g.addScalar(g.scale(mask, -1), 1), -10000), [-1, 1, 1, l]);
  const noisy = g.input('noisy', [-1, c, h, w]);
  const t = g.input('timestep', [-1]);
  const target = g.input('target', [-1, c, h, w]);
  const pred = unetForward(g, spec.unet, noisy, t, ctx, crossBias);
  const err = g.sub(pred, target);
  const mse = g.reshape(g.reduceMean(g.reshape(g.mul(err, err), [-1, c * h * w]), [1]), [-1]);

  let loss: Sym;
  if (spec.objective === 'weighted-mse') {
    const weights = g.input('weights', [-1]);
    loss = g.reshape(g.reduceSum(g.reshape(g.mul(mse, weights), [1, -1]), [1]), []);
  } else {
    const ref = g.input('reference_mse', [-1]);
    const paired = spec.hingePairs === undefined ? g.sub(mse, ref) : g.slice(g.sub(mse, ref), 0, 0, 2 * spec.hingePairs);
    const delta = g.reshape(paired, [2, -1]); // row 0 expert, row 1 policy
    const diff = g.sub(g.slice(delta, 0, 0, 1), g.slice(delta, 0, 1, 2));
    const hinge = g.relu(g.addScalar(diff, spec.margin ?? 0.001));
    const weights = g.input('weights', [-1]);
    const anchor = g.reduceSum(g.reshape(g.mul(mse, weights), [1, -1]), [1]);
    loss = g.reshape(g.add(g.reduceMean(hinge, [0, 1]), anchor), []);
  }
  g.output(loss, 'loss');
  g.output(mse, 'per_sample_mse');

  const wrt = g.trainableInputs;
  const grads = g.gradients(loss, wrt);
  wrt.forEach((s, i) => {
    const gr = grads[i];
    if (!gr) throw new Error(`no gradient reaches ${s.name}`);
    g.output(gr, `grad:${s.name}`);
  });
  return { model: g.toModel(), trainableNames: wrt.map((s) => s.name) };
}

export class DenoiserTrainingGraph {
  readonly engine = 'onnxruntime';

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly spec: TrainingGraphSpec,
    /** Names of the trainable tensors, in the order the graph takes and returns them. */
    readonly trainableNames: string[],
    private readonly shapes: Map<string, number[]>,
  ) {}

  static async create(spec: TrainingGraphSpec): Promise<DenoiserTrainingGraph> {
    const { model, trainableNames } = buildTrainingGraph(spec);
    // A graph of SD size keeps many GB of activations for its backward pass: no arena slack on top.
    const large = initializerBytes(model) > EXTERNAL_DATA_AUTO_BYTES;
    const { session } = await createSession(model, { intraOpThreads: spec.intraOpThreads, memoryArena: !large });
    // Shapes now, so the session needs no weights afterwards (callers may free them).
    const shapes = new Map(trainableNames.map((n) => [n, trainableShape(spec, n)]));
    return new DenoiserTrainingGraph(session, spec, trainableNames, shapes);
  }

  /** One forward + backward. `trainable` maps graph input names (params or lora.* factors) to values. */
  async step(inputs: TrainingStepInputs, trainable: Map<string, Float32Array>): Promise<TrainingStepResult> {
    const { spec } = this;
    const [c, h, w] = spec.sampleShape;
    const b = inputs.batch;
    const l = spec.seqLen;
    const feeds: Record<string, ort.Tensor> = {
      attention_mask: new ort.Tensor('float32', inputs.attentionMask, [b, l]),
      noisy: new ort.Tensor('float32', inputs.noisy, [b, c, h, w]),
      timestep: new ort.Tensor('float32', inputs.timesteps, [b]),
      target: new ort.Tensor('float32', inputs.target, [b, c, h, w]),
    };
    if (spec.text) feeds.input_ids = new ort.Tensor('int64', requireInput(inputs.inputIds, 'inputIds'), [b, l]);
    else feeds.encoder_hidden_states = new ort.Tensor('float32', requireInput(inputs.encoderHiddenStates, 'encoderHiddenStates'), [b, l, spec.unet.cross_attention_dim]);
    if (spec.objective === 'weighted-mse') feeds.weights = new ort.Tensor('float32', requireInput(inputs.weights, 'weights'), [b]);
    else {
      feeds.reference_mse = new ort.Tensor('float32', requireInput(inputs.referenceMse, 'referenceMse'), [b]);
      feeds.weights = new ort.Tensor('float32', inputs.weights ?? new Float32Array(b), [b]);
    }
    for (const name of this.trainableNames) {
      const value = trainable.get(name);
      if (!value) throw new Error(`missing trainable tensor ${name}`);
      feeds[name] = new ort.Tensor('float32', value, this.shapes.get(name)!);
    }
    const out = await this.session.run(feeds);
    const grads = new Map<string, Float32Array>();
    for (const name of this.trainableNames) grads.set(name, out[`grad:${name}`].data as Float32Array);
    return { loss: (out.loss.data as Float32Array)[0], perSampleMse: out.per_sample_mse.data as Float32Array, grads };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function trainableShape(spec: TrainingGraphSpec, name: string): number[] {
  const p = spec.params.get(name);
  if (p) return p.shape;
  const m = /^lora\.(.+)\.(a|b)$/.exec(name);
  if (!m || !spec.lora) throw new Error(`unknown trainable ${name}`);
  const [out, inp] = moduleShapeOfWeight(spec.params.get(`${m[1]}.weight`)!.shape);
  return m[2] === 'a' ? [1, spec.lora.rank, inp] : [1, out, spec.lora.rank];
}

function requireInput<V>(v: V | undefined, name: string): V {
  if (v === undefined) throw new Error(`training step needs ${name}`);
  return v;
}
