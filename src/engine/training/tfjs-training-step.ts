import { moduleShapeOfWeight } from '../lora/lora-adapter';
import type * as tfType from '@tensorflow/tfjs-core';
import { TfjsOps } from '../graph/tfjs-ops';
import { LoraFactors } from '../graph/ops';
import { unetForward } from '../models/unet-2d-condition.model';
import { clipTextForward } from '../models/clip-text.model';
import { loadTfjs, TfjsBackendName } from '../graph/tfjs-backend';
import { TrainingGraphSpec, TrainingStepInputs, TrainingStepResult } from './denoiser-training-graph';

/**
 * The training step of DenoiserTrainingGraph executed by tfjs autodiff (tfjs-node-gpu or tfjs-node when
 * installed, the pure-JS CPU backend otherwise). Same inputs, loss and gradient names.
 */
export class TfjsTrainingStep {
  readonly trainableNames: string[];
  readonly engine: string;

  private constructor(
    private readonly tf: typeof tfType,
    readonly backend: TfjsBackendName,
    private readonly spec: TrainingGraphSpec,
    private readonly frozen: Map<string, tfType.Tensor>,
  ) {
    this.engine = `tfjs-${backend}`;
    if (spec.lora) {
      this.trainableNames = spec.lora.modules.flatMap((m) => [`lora.${m}.a`, `lora.${m}.b`]);
    } else {
      this.trainableNames = [...spec.params.keys()];
    }
  }

  static async create(spec: TrainingGraphSpec): Promise<TfjsTrainingStep> {
    const { tf, backend } = await loadTfjs();
    const frozen = new Map<string, tfType.Tensor>();
    if (spec.lora) for (const [k, v] of spec.params) frozen.set(k, tf.tensor(v.data, v.shape));
    return new TfjsTrainingStep(tf, backend, spec, frozen);
  }

  private shapeOf(name: string): number[] {
    const p = this.spec.params.get(name);
    if (p) return p.shape;
    const m = /^lora\.(.+)\.(a|b)$/.exec(name)!;
    const [out, inp] = moduleShapeOfWeight(this.spec.params.get(`${m[1]}.weight`)!.shape);
    const r = this.spec.lora!.rank;
    return m[2] === 'a' ? [1, r, inp] : [1, out, r];
  }

  async step(inputs: TrainingStepInputs, trainable: Map<string, Float32Array>): Promise<TrainingStepResult> {
    const tf = this.tf;
    const { spec } = this;
    const [c, h, w] = spec.sampleShape;
    const b = inputs.batch;
    const l = spec.seqLen;
    const names = this.trainableNames;
    const result = tf.tidy(() => {
      const xs = names.map((n) => tf.tensor(trainable.get(n)!, this.shapeOf(n)));
      let perSample: tfType.Tensor | null = null;
      const lossFn = (...vals: tfType.Tensor[]) => {
        const byName = new Map(names.map((n, i) => [n, vals[i]]));
        let params: Map<string, tfType.Tensor>;
        const lora = new Map<string, LoraFactors<tfType.Tensor>>();
        if (spec.lora) {
          params = this.frozen;
          for (const m of spec.lora.modules) lora.set(m, { a: byName.get(`lora.${m}.a`)!, b: byName.get(`lora.${m}.b`)! });
        } else {
          params = byName;
        }
        const ops = new TfjsOps(tf, params, lora);
        const mask = tf.tensor(inputs.attentionMask, [b, l]);
        const ctx = spec.text
          ? clipTextForward(ops, spec.text, tf.tensor(Int32Array.from(inputs.inputIds!, Number), [b, l], 'int32'), mask)
          : tf.tensor(inputs.encoderHiddenStates!, [b, l, spec.unet.cross_attention_dim]);
        const bias = tf.reshape(tf.mul(tf.sub(1, mask), -10000), [b, 1, 1, l]);
        const pred = unetForward(ops, spec.unet, tf.tensor(inputs.noisy, [b, c, h, w]), tf.tensor(inputs.timesteps, [b]), ctx, bias);
        const err = tf.sub(pred, tf.tensor(inputs.target, [b, c, h, w]));
        const mse = tf.mean(tf.reshape(tf.square(err), [b, -1]), 1);
        perSample = tf.keep(mse);
        if (spec.objective === 'weighted-mse') return tf.sum(tf.mul(mse, tf.tensor(inputs.weights!, [b]))) as tfType.Scalar;
        const pairRows = spec.hingePairs === undefined ? b : 2 * spec.hingePairs;
        const delta = tf.reshape(tf.slice(tf.sub(mse, tf.tensor(inputs.referenceMse!, [b])), [0], [pairRows]), [2, pairRows / 2]);
        const [expert, policy] = tf.split(delta, 2, 0);
        const hinge = tf.mean(tf.relu(tf.add(tf.sub(expert, policy), spec.margin ?? 0.001)));
        return (inputs.weights ? tf.add(hinge, tf.sum(tf.mul(mse, tf.tensor(inputs.weights, [b])))) : hinge) as tfType.Scalar;
      };
      const { value, grads } = tf.valueAndGrads(lossFn)(xs);
      return { value, grads, perSample: perSample as unknown as tfType.Tensor };
    });
    const grads = new Map<string, Float32Array>();
    names.forEach((n, i) => grads.set(n, result.grads[i].dataSync() as Float32Array));
    const loss = result.value.dataSync()[0];
    const perSampleMse = result.perSample.dataSync() as Float32Array;
    tf.dispose([result.value, ...result.grads, result.perSample]);
    return { loss, perSampleMse, grads };
  }

  async release(): Promise<void> {
    for (const t of this.frozen.values()) t.dispose();
  }
}
