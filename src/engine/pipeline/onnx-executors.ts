import * as ort from 'onnxruntime-node';
import { OnnxGraphOps } from '../graph/onnx-graph-ops';
import { OnnxModel } from '../onnx/onnx-model';
import { createSession, ExecutionProviderChoice } from '../onnx/ort-session';
import { unetForward } from '../models/unet-2d-condition.model';
import { clipTextForward } from '../models/clip-text.model';
import { DiffusionModel, ImageSize, sampleShape } from '../models/diffusion-model';
import { DenoiseBatch, Denoiser, TextEncoder } from './denoiser';

export interface OrtOptions {
  executionProvider?: ExecutionProviderChoice;
  intraOpThreads?: number;
}

export interface UNetSessionOptions extends OrtOptions {
  /** Image size the session samples (spatial dimensions are static in the graph); the model's native size by default. */
  size?: ImageSize;
}

/**
 * The UNet as an ONNX graph: weights are initializers, LoRA factors for `loraModules` are per-sample
 * inputs (batch and rank dynamic), so adapters change per request without re-export or reload.
 * A model past 1 GiB of weights loads through an external data file (createSession).
 */
export function exportUNetOnnx(model: DiffusionModel, loraModules: string[], size?: ImageSize): OnnxModel {
  const g = new OnnxGraphOps({ params: model.unetParams, lora: { modules: loraModules, perSample: true, trainable: false } });
  const [c, h, w] = sampleShape(model, size);
  const l = model.maxLength;
  const sample = g.input('sample', [-1, c, h, w]);
  const t = g.input('timestep', [-1]);
  const ctx = g.input('encoder_hidden_states', [-1, l, model.unetConfig.cross_attention_dim]);
  const mask = g.input('encoder_attention_mask', [-1, l]);
  const bias = g.reshape(g.scale(g.addScalar(g.scale(mask, -1), 1), -10000), [-1, 1, 1, l]);
  g.output(unetForward(g, model.unetConfig, sample, t, ctx, bias), 'out_sample');
  return g.toModel({ model: model.name, lora_modules: String(loraModules.length) });
}

export function exportTextEncoderOnnx(model: DiffusionModel): OnnxModel {
  const g = new OnnxGraphOps({ params: model.textParams });
  const l = model.maxLength;
  const ids = g.input('input_ids', [-1, l], 'int64');
  const mask = g.input('attention_mask', [-1, l]);
  g.output(clipTextForward(g, model.textConfig, ids, mask), 'last_hidden_state');
  return g.toModel({ model: model.name });
}

export class OrtUNetDenoiser implements Denoiser {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly executor: string,
    private readonly shape: [number, number, number],
    private readonly seqLen: number,
    private readonly ctxDim: number,
    readonly loraModules: string[],
  ) {}

  static async create(model: DiffusionModel, loraModules: string[], opts: UNetSessionOptions = {}): Promise<OrtUNetDenoiser> {
    const s = await createSession(exportUNetOnnx(model, loraModules, opts.size), opts);
    return new OrtUNetDenoiser(s.session, `onnxruntime-${s.executionProvider}(${s.intraOpThreads} threads)`, sampleShape(model, opts.size), model.maxLength, model.unetConfig.cross_attention_dim, loraModules);
  }

  async predict(b: DenoiseBatch): Promise<Float32Array> {
    const [c, h, w] = this.shape;
    const feeds: Record<string, ort.Tensor> = {
      sample: new ort.Tensor('float32', b.sample, [b.batch, c, h, w]),
      timestep: new ort.Tensor('float32', b.timesteps, [b.batch]),
      encoder_hidden_states: new ort.Tensor('float32', b.encoderHiddenStates, [b.batch, this.seqLen, this.ctxDim]),
      encoder_attention_mask: new ort.Tensor('float32', b.encoderMask, [b.batch, this.seqLen]),
    };
    if (this.loraModules.length > 0) {
      if (!b.lora) throw new Error('this UNet session takes LoRA factors: pass zeros for no adapter');
      for (const [name, v] of b.lora) feeds[name] = new ort.Tensor('float32', v.data, v.dims);
    }
    const out = await this.session.run(feeds);
    return out.out_sample.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export class OrtTextEncoder implements TextEncoder {
  private constructor(private readonly session: ort.InferenceSession, private readonly seqLen: number) {}

  static async create(model: DiffusionModel, opts: OrtOptions = {}): Promise<OrtTextEncoder> {
    const s = await createSession(exportTextEncoderOnnx(model), opts);
    return new OrtTextEncoder(s.session, model.maxLength);
  }

  async encode(ids: BigInt64Array, mask: Float32Array, batch: number): Promise<Float32Array> {
    const out = await this.session.run({
      input_ids: new ort.Tensor('int64', ids, [batch, this.seqLen]),
      attention_mask: new ort.Tensor('float32', mask, [batch, this.seqLen]),
    });
    return out.last_hidden_state.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
