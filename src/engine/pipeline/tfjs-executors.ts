import type * as tfType from '@tensorflow/tfjs-core';
import { TfjsOps } from '../graph/tfjs-ops';
import { LoraFactors } from '../graph/ops';
import { unetForward } from '../models/unet-2d-condition.model';
import { clipTextForward } from '../models/clip-text.model';
import { DiffusionModel, ImageSize, sampleShape } from '../models/diffusion-model';
import { ParamMap } from '../models/param-init';
import { loadTfjs } from '../graph/tfjs-backend';
import { DenoiseBatch, Denoiser, TextEncoder } from './denoiser';

function toTensors(tf: typeof tfType, params: ParamMap): Map<string, tfType.Tensor> {
  return new Map([...params].map(([k, v]) => [k, tf.tensor(v.data, v.shape)]));
}

/** The same UNet definition executed eagerly by tfjs (reference executor and training fallback). */
export class TfjsUNetDenoiser implements Denoiser {
  private constructor(
    private readonly tf: typeof tfType,
    private readonly params: Map<string, tfType.Tensor>,
    private readonly model: DiffusionModel,
    readonly executor: string,
    private readonly shape: [number, number, number],
    /** Views at other sizes share the weights and leave them to the denoiser that made them. */
    private readonly ownsParams: boolean,
  ) {}

  static async create(model: DiffusionModel, size?: ImageSize): Promise<TfjsUNetDenoiser> {
    const { tf, backend } = await loadTfjs();
    return new TfjsUNetDenoiser(tf, toTensors(tf, model.unetParams), model, `tfjs-${backend}`, sampleShape(model, size), true);
  }

  /** The same weights sampling images of another size (eager execution has no fixed shapes). */
  atSize(size: ImageSize): TfjsUNetDenoiser {
    return new TfjsUNetDenoiser(this.tf, this.params, this.model, this.executor, sampleShape(this.model, size), false);
  }

  async predict(b: DenoiseBatch): Promise<Float32Array> {
    const tf = this.tf;
    const [c, h, w] = this.shape;
    const l = this.model.maxLength;
    const out = tf.tidy(() => {
      const lora = new Map<string, LoraFactors<tfType.Tensor>>();
      if (b.lora) {
        for (const [name, v] of b.lora) {
          const m = /^lora\.(.+)\.(a|b)$/.exec(name);
          if (!m) continue;
          const entry = lora.get(m[1]) ?? ({} as LoraFactors<tfType.Tensor>);
          entry[m[2] as 'a' | 'b'] = tf.tensor(v.data, v.dims);
          lora.set(m[1], entry);
        }
      }
      const ops = new TfjsOps(tf, this.params, lora);
      const bias = tf.reshape(tf.mul(tf.sub(1, tf.tensor(b.encoderMask, [b.batch, l])), -10000), [b.batch, 1, 1, l]);
      return unetForward(
        ops,
        this.model.unetConfig,
        tf.tensor(b.sample, [b.batch, c, h, w]),
        tf.tensor(b.timesteps, [b.batch]),
        tf.tensor(b.encoderHiddenStates, [b.batch, l, this.model.unetConfig.cross_attention_dim]),
        bias,
      );
    });
    const data = (await out.data()) as Float32Array;
    out.dispose();
    return data;
  }

  async release(): Promise<void> {
    if (this.ownsParams) for (const t of this.params.values()) t.dispose();
  }
}

export class TfjsTextEncoder implements TextEncoder {
  private constructor(private readonly tf: typeof tfType, private readonly params: Map<string, tfType.Tensor>, private readonly model: DiffusionModel) {}

  static async create(model: DiffusionModel): Promise<TfjsTextEncoder> {
    const { tf } = await loadTfjs();
    return new TfjsTextEncoder(tf, toTensors(tf, model.textParams), model);
  }

  async encode(ids: BigInt64Array, mask: Float32Array, batch: number): Promise<Float32Array> {
    const tf = this.tf;
    const l = this.model.maxLength;
    const out = tf.tidy(() =>
      clipTextForward(new TfjsOps(tf, this.params), this.model.textConfig, tf.tensor(Int32Array.from(ids, Number), [batch, l], 'int32'), tf.tensor(mask, [batch, l])),
    );
    const data = (await out.data()) as Float32Array;
    out.dispose();
    return data;
  }

  async release(): Promise<void> {
    for (const t of this.params.values()) t.dispose();
  }
}
