import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Sharp, SharpOptions } from 'sharp';
import { styleImageDir } from './emoji-catalog';
import type { EmojiConcept, EmojiStyle } from './emoji-data.types';
import { requireFromProject } from './package-paths.util';
import { encodeRgbPng } from '../../engine/pipeline/image-encoding';

type SharpFactory = (input?: string | Buffer, options?: SharpOptions) => Sharp;

let sharpFactory: SharpFactory | undefined;
function sharp(input: string | Buffer, options?: SharpOptions): Sharp {
  sharpFactory ??= requireFromProject<SharpFactory>('sharp');
  return sharpFactory(input, options);
}

const WHITE = { r: 255, g: 255, b: 255, alpha: 1 };

/** OpenMoji SVGs are rasterised at this many pixels per side (at least 4× the output) before downscaling. */
const SVG_MIN_RASTER = 256;

export function assertImageSize(size: number): void {
  if (!Number.isInteger(size) || size < 4 || size > 1024) throw new Error(`invalid image size ${size}`);
}

/** Absolute path of a concept's image in a style; throws when that style has no image for it. */
export function emojiImagePath(concept: EmojiConcept, style: EmojiStyle): string {
  const file = concept.files[style];
  if (!file) throw new Error(`no ${style} image for ${concept.id} (${concept.label})`);
  return path.join(styleImageDir(style), file);
}

function svgUserSize(svg: Buffer): number {
  const text = svg.subarray(0, 2048).toString('utf8');
  const viewBox = /viewBox\s*=\s*["']\s*[-\d.]+[\s,]+[-\d.]+[\s,]+([\d.]+)[\s,]+([\d.]+)/.exec(text);
  if (viewBox) return Math.max(Number(viewBox[1]), Number(viewBox[2])) || 72;
  return 72;
}

/**
 * Decodes any image the pipeline handles to `size`×`size` RGB bytes (HWC), flattened onto white.
 * Raster input is resized with Lanczos-3 (antialiased when shrinking); SVG is rasterised at ≥ 4× the
 * target first so thin OpenMoji outlines come out crisp after the downscale.
 */
export async function rasterizeToRgb(input: string | Buffer, size: number, isSvg?: boolean): Promise<Uint8Array> {
  assertImageSize(size);
  const svg = isSvg ?? (typeof input === 'string' && input.toLowerCase().endsWith('.svg'));
  let image: Sharp;
  if (svg) {
    const buffer = typeof input === 'string' ? await fs.promises.readFile(input) : input;
    const raster = Math.max(SVG_MIN_RASTER, size * 4);
    // librsvg renders one user unit per pixel at 72 dpi.
    image = sharp(buffer, { density: (72 * raster) / svgUserSize(buffer) });
  } else {
    image = sharp(input);
  }
  const { data, info } = await image
    .flatten({ background: WHITE })
    .resize(size, size, { kernel: 'lanczos3', fit: 'contain', background: WHITE })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== 3) {
    throw new Error(`unexpected raster ${info.width}x${info.height}x${info.channels}`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A concept's image as `size`×`size` RGB bytes, HWC, on white. */
export async function loadEmojiPixels(concept: EmojiConcept, style: EmojiStyle, size = 32): Promise<Uint8Array> {
  return rasterizeToRgb(emojiImagePath(concept, style), size, style === 'openmoji');
}

/** HWC RGB bytes → CHW floats in [-1, 1] (the diffusion models' pixel range). */
export function hwcToChw(hwc: Uint8Array, width: number, height: number, out?: Float32Array, offset = 0): Float32Array {
  const plane = width * height;
  const target = out ?? new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    target[offset + i] = hwc[3 * i] / 127.5 - 1;
    target[offset + plane + i] = hwc[3 * i + 1] / 127.5 - 1;
    target[offset + 2 * plane + i] = hwc[3 * i + 2] / 127.5 - 1;
  }
  return target;
}

/** CHW floats in [-1, 1] → HWC RGB bytes (clamped, rounded). */
export function chwToHwc(chw: Float32Array, width: number, height: number, offset = 0): Uint8Array {
  const plane = width * height;
  if (chw.length - offset < 3 * plane) throw new Error(`expected ${3 * plane} values, got ${chw.length - offset}`);
  const out = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.round((chw[offset + c * plane + i] + 1) * 127.5);
      out[3 * i + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

/** A concept's image as CHW RGB floats in [-1, 1], composited over white. */
export async function loadEmojiImage(concept: EmojiConcept, style: EmojiStyle, size = 32): Promise<Float32Array> {
  return hwcToChw(await loadEmojiPixels(concept, style, size), size, size);
}

/** Encodes a CHW [-1, 1] image as PNG. */
export function encodePng(chw: Float32Array, width: number, height: number): Promise<Buffer> {
  return encodeRgbPng(chw, width, height);
}

/** Writes a square CHW [-1, 1] image as PNG, creating parent directories. */
export async function saveImage(chw: Float32Array, size: number, file: string): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  await fs.promises.writeFile(file, await encodePng(chw, size, size));
}
