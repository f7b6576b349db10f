import { createHash } from 'node:crypto';
import sharp from 'sharp';

/** Fewer demonstrations than this give a fine-tune nothing to generalise from. */
export const MIN_IMAGES_FOR_FINE_TUNE = 4;
/** Smaller images carry too little style to be worth training on. */
export const MIN_IMAGE_SIDE = 16;

export type RejectionReason = 'corrupt' | 'unsupported_type' | 'too_small' | 'too_large' | 'duplicate' | 'unsafe_path';
export const REJECTION_REASONS: RejectionReason[] = ['corrupt', 'unsupported_type', 'too_small', 'too_large', 'duplicate', 'unsafe_path'];

export type SupportedFormat = 'png' | 'jpeg' | 'webp';

export const MIME_TYPES: Record<SupportedFormat, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };
export const EXTENSIONS: Record<SupportedFormat, string> = { png: 'png', jpeg: 'jpg', webp: 'webp' };

export interface PreparedImage {
  format: SupportedFormat;
  width: number;
  height: number;
  /** SHA-256 over the decoded RGB pixels and size: re-encodings of the same picture collide. */
  contentHash: string;
  /** RGB PNG, `trainingSide` square, alpha flattened over white. */
  training: Buffer;
  trainingSide: number;
}

export class ImageRejection extends Error {
  constructor(readonly reason: RejectionReason, readonly detail: string) {
    super(detail);
    this.name = 'ImageRejection';
  }
}

/** The format from the first bytes; the file name and declared type are not trusted. */
export function sniffFormat(data: Buffer): SupportedFormat | undefined {
  if (data.length >= 8 && data.readUInt32BE(0) === 0x89504e47 && data.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'jpeg';
  if (data.length >= 12 && data.toString('latin1', 0, 4) === 'RIFF' && data.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return undefined;
}

const CLAIMS_SUPPORTED = /\.(png|jpe?g|webp)$/i;
const SUPPORTED_MIME = /^image\/(png|jpeg|webp)$/i;

export interface ImageLimits {
  imageBytes: number;
  imagePixels: number;
}

/**
 * Validates one uploaded image and derives what training needs. Throws ImageRejection with the
 * reason the client sees; never lets a decoder error escape as a server fault. The training copy is
 * `trainingResolution` square (the base model's resolution, so training resamples nothing); without
 * one it keeps the image's longer side.
 */
export async function prepareTrainingImage(
  data: Buffer,
  filename: string,
  declaredMimeType: string | undefined,
  limits: ImageLimits,
  trainingResolution: number | null,
): Promise<PreparedImage> {
  if (data.length > limits.imageBytes) {
    throw new ImageRejection('too_large', `${data.length} bytes; the limit is ${limits.imageBytes} bytes per image`);
  }
  const format = sniffFormat(data);
  if (!format) {
    const claimed = CLAIMS_SUPPORTED.test(filename) || SUPPORTED_MIME.test(declaredMimeType ?? '');
    if (claimed) throw new ImageRejection('corrupt', 'the file does not start like a PNG, JPEG or WebP image');
    throw new ImageRejection('unsupported_type', 'only PNG, JPEG and WebP images are accepted');
  }

  let width: number;
  let height: number;
  try {
    const meta = await sharp(data).metadata();
    width = meta.autoOrient?.width ?? meta.width ?? 0;
    height = meta.autoOrient?.height ?? meta.height ?? 0;
  } catch (error) {
    throw new ImageRejection('corrupt', `cannot read the image header: ${(error as Error).message}`);
  }
  if (width * height > limits.imagePixels) {
    throw new ImageRejection('too_large', `${width}×${height} pixels; the limit is ${limits.imagePixels} pixels`);
  }
  if (width < MIN_IMAGE_SIDE || height < MIN_IMAGE_SIDE) {
    throw new ImageRejection('too_small', `${width}×${height} pixels; each side must be at least ${MIN_IMAGE_SIDE}`);
  }

  let pixels: { data: Buffer; info: sharp.OutputInfo };
  try {
    pixels = await sharp(data, { limitInputPixels: limits.imagePixels })
      .rotate()
      .flatten({ background: '#ffffff' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new ImageRejection('corrupt', `cannot decode the image: ${(error as Error).message}`);
  }
  const { info } = pixels;
  const contentHash = createHash('sha256').update(`${info.width}x${info.height}x${info.channels}:`).update(pixels.data).digest('hex');
  const trainingSide = trainingResolution ?? Math.max(info.width, info.height);
  const training = await sharp(pixels.data, { raw: { width: info.width, height: info.height, channels: info.channels } })
    .resize(trainingSide, trainingSide, { fit: 'contain', background: '#ffffff' })
    .png()
    .toBuffer();
  return { format, width: info.width, height: info.height, contentHash, training, trainingSide };
}
