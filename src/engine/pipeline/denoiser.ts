/** Per-sample LoRA factors for one batch, keyed by ONNX input name (`lora.<module>.a|b`). */
export type LoraFeeds = Map<string, { data: Float32Array; dims: [number, number, number] }>;

export interface DenoiseBatch {
  batch: number;
  /** [B, C, H, W] */
  sample: Float32Array;
  /** One timestep per sample (all equal while sampling). */
  timesteps: Float32Array;
  /** [B, L, D] */
  encoderHiddenStates: Float32Array;
  /** [B, L]: 1 keep, 0 padding. */
  encoderMask: Float32Array;
  lora: LoraFeeds | null;
}

/** One UNet evaluation: model output (ε, v or x0 by the model's prediction type). */
export interface Denoiser {
  readonly executor: string;
  predict(b: DenoiseBatch): Promise<Float32Array>;
  release(): Promise<void>;
}

export interface TextEncoder {
  /** ids [B, L], mask [B, L] → last_hidden_state [B, L, D]. */
  encode(ids: BigInt64Array, mask: Float32Array, batch: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/** An AutoencoderKL's decoder at one image size: the VAE's z [N, latent_channels, h, w] → images [N, 3, H, W]. */
export interface VaeDecoder {
  decode(z: Float32Array, n: number): Promise<Float32Array>;
  release(): Promise<void>;
}
