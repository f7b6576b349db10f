import type { AutoencoderKlConfig } from './autoencoder-kl.model';
import { ImageSize, SampleSpace, nativeImageSize, pixelsPerSample } from './sample-space';
import { UNetConfig, headsPerBlock } from './unet-config';

/** What sizing needs to know of a model: the UNet, the sample space and the VAE (latent models). */
export interface ModelGeometry {
  unetConfig: UNetConfig;
  sampleSpace: SampleSpace;
  vae?: { config: AutoencoderKlConfig } | null;
  /** Text tokens the cross-attention reads (77 for CLIP). */
  maxLength?: number;
}

/** Sizes a model generates at: multiples of `multiple` from `multiple` up to the maxima. */
export interface ImageSizeRules {
  native: ImageSize;
  multiple: number;
  maxWidth: number;
  maxHeight: number;
}

/** Images may be at most this many times the native side: beyond it models trained at one size fall apart. */
export const MAX_SIDE_FACTOR = 4;

/**
 * Both sides must be multiples of the pixels per sample cell (VAE factor or patch size) times the
 * UNet's downsampling (2 per down block after the first), so every level has whole cells and the
 * up path's skip connections line up.
 */
export function imageSizeRules(model: Pick<ModelGeometry, 'unetConfig' | 'sampleSpace'>): ImageSizeRules {
  const native = nativeImageSize(model);
  const multiple = pixelsPerSample(model.sampleSpace) * 2 ** (model.unetConfig.block_out_channels.length - 1);
  const max = (side: number) => Math.max(multiple, Math.floor((MAX_SIDE_FACTOR * side) / multiple) * multiple);
  return { native, multiple, maxWidth: max(native.width), maxHeight: max(native.height) };
}

/** A requested side the model cannot generate; `field` names it. */
export class ImageSizeError extends RangeError {
  constructor(readonly field: 'width' | 'height', message: string) {
    super(`${field} ${message}`);
    this.name = 'ImageSizeError';
  }
}

function allowed(rules: ImageSizeRules, field: 'width' | 'height', max = field === 'width' ? rules.maxWidth : rules.maxHeight): string {
  return `must be a multiple of ${rules.multiple} from ${rules.multiple} to ${max}`;
}

/** Throws ImageSizeError naming the first side that is not a multiple or beyond the model's maximum. */
export function checkImageSize(model: Pick<ModelGeometry, 'unetConfig' | 'sampleSpace'>, size: ImageSize): void {
  const rules = imageSizeRules(model);
  for (const field of ['width', 'height'] as const) {
    const v = size[field];
    const max = field === 'width' ? rules.maxWidth : rules.maxHeight;
    if (!Number.isInteger(v) || v < rules.multiple || v > max || v % rules.multiple !== 0) {
      throw new ImageSizeError(field, `${allowed(rules, field)} for this model (native ${rules.native[field]}), got ${v}`);
    }
  }
}

export interface ActivationEstimate {
  /** The UNet's largest working set for all rows of one denoiser call (guidance doubles the rows). */
  unetBytes: number;
  /** The VAE decoder's for all images (0 for pixel-space models). */
  vaeBytes: number;
  /** The larger of the two: they run one after the other. */
  peakBytes: number;
}

const FLOAT_BYTES = 4;

/**
 * Float32 activation memory of one generation call, estimated from the configs before anything runs.
 * UNet, per row: every skip connection (alive from the down path to the up path) plus the widest
 * level's working set — a ResNet block (concatenated input, norms, two convolutions: 5·C·hw), and
 * where the level has attention the projections and GEGLU feed-forward (16·C·hw) and the
 * attention scores with their softmax (2·heads·hw·(hw + tokens)), the term that grows with the square
 * of the image area. VAE decoder, per image: its widest level (6·C·HW) plus the mid block's
 * single-head attention over the latent grid. Weights are not counted.
 */
export function estimateActivationBytes(model: ModelGeometry, size: ImageSize, o: { images: number; guided: boolean }): ActivationEstimate {
  const cfg = model.unetConfig;
  const f = pixelsPerSample(model.sampleSpace);
  const tokens = model.maxLength ?? 77;
  const heads = headsPerBlock(cfg);
  const levels = cfg.block_out_channels.length;
  const attentionAt = (i: number) =>
    cfg.down_block_types[i] === 'CrossAttnDownBlock2D' || cfg.up_block_types[levels - 1 - i] === 'CrossAttnUpBlock2D' || (i === levels - 1 && cfg.mid_block_type !== null);
  const cells = (i: number) => Math.ceil(size.height / f / 2 ** i) * Math.ceil(size.width / f / 2 ** i);

  let skips = cfg.block_out_channels[0] * cells(0);
  let widest = 0;
  for (let i = 0; i < levels; i++) {
    const c = cfg.block_out_channels[i];
    const hw = cells(i);
    skips += cfg.layers_per_block * c * hw + (i < levels - 1 ? c * cells(i + 1) : 0);
    const attention = attentionAt(i) ? 16 * c * hw + 2 * heads[i] * hw * (hw + tokens) : 0;
    widest = Math.max(widest, 5 * c * hw + attention);
  }
  const rows = o.images * (o.guided ? 2 : 1);
  const unetBytes = rows * (skips + widest) * FLOAT_BYTES;

  let vaeBytes = 0;
  const vae = model.vae?.config;
  if (model.sampleSpace.type === 'latent' && vae) {
    const latentCells = (size.height / f) * (size.width / f);
    const reversed = [...vae.block_out_channels].reverse();
    let vaeWidest = 0;
    reversed.forEach((c, j) => (vaeWidest = Math.max(vaeWidest, 6 * c * latentCells * 4 ** j)));
    const midAttention = vae.mid_block_add_attention ? 2 * latentCells * latentCells + 4 * reversed[0] * latentCells : 0;
    vaeBytes = o.images * (vaeWidest + midAttention) * FLOAT_BYTES;
  }
  return { unetBytes, vaeBytes, peakBytes: Math.max(unetBytes, vaeBytes) };
}

/**
 * Throws ImageSizeError when the estimate for `images` at `size` exceeds `budgetBytes`, naming the
 * larger side and the largest value of it that fits with the other side as given.
 */
export function checkActivationBudget(model: ModelGeometry, size: ImageSize, o: { images: number; guided: boolean; budgetBytes: number; budgetName?: string }): void {
  const need = estimateActivationBytes(model, size, o).peakBytes;
  if (need <= o.budgetBytes) return;
  const rules = imageSizeRules(model);
  const field: 'width' | 'height' = size.width >= size.height ? 'width' : 'height';
  const fits = (v: number) => estimateActivationBytes(model, { ...size, [field]: v }, o).peakBytes <= o.budgetBytes;
  let largest = 0;
  for (let v = rules.multiple; v <= size[field] && fits(v); v += rules.multiple) largest = v;
  const mb = (b: number) => `${Math.ceil(b / 2 ** 20)} MiB`;
  const other = field === 'width' ? 'height' : 'width';
  const limit = o.budgetName ? ` (${o.budgetName})` : '';
  const rows = `${o.images} image(s)${o.guided ? ' with guidance' : ''}`;
  throw new ImageSizeError(
    field,
    largest > 0
      ? `${size[field]} is too large: ${size.width}×${size.height} for ${rows} needs an estimated ${mb(need)} of activations, over the budget of ${mb(o.budgetBytes)}${limit}; with ${other} ${size[other]}, ${field} ${allowed(rules, field, largest)}`
      : `${size[field]} is too large: ${size.width}×${size.height} for ${rows} needs an estimated ${mb(need)} of activations, over the budget of ${mb(o.budgetBytes)}${limit}; no ${field} fits with ${other} ${size[other]}: ask for fewer images or a smaller ${other}`,
  );
}
