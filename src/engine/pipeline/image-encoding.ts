import sharp from 'sharp';

/** A square CHW RGB image in [-1, 1] → 8-bit RGB PNG, optionally upscaled with nearest neighbour (crisp pixels). */
export function encodeImagePng(chw: Float32Array, size: number, upscale = 1): Promise<Buffer> {
  return encodeRgbPng(chw, size, size, upscale);
}

/** Tiles equally sized CHW images into one grid image (rows × cols), for sample sheets. */
export function tileImages(images: Float32Array[], size: number, cols: number, pad = 1): { chw: Float32Array; width: number; height: number } {
  const rows = Math.ceil(images.length / cols);
  const width = cols * size + (cols + 1) * pad;
  const height = rows * size + (rows + 1) * pad;
  const chw = new Float32Array(3 * width * height).fill(1);
  images.forEach((img, k) => {
    const ox = pad + (k % cols) * (size + pad);
    const oy = pad + Math.floor(k / cols) * (size + pad);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) chw[(c * height + oy + y) * width + ox + x] = img[(c * size + y) * size + x];
  });
  return { chw, width, height };
}

/** CHW RGB in [-1, 1] → 8-bit RGB PNG. */
export async function encodeRgbPng(chw: Float32Array, width: number, height: number, upscale = 1): Promise<Buffer> {
  const hw = width * height;
  const rgb = Buffer.alloc(hw * 3);
  for (let i = 0; i < hw; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.round((Math.max(-1, Math.min(1, chw[c * hw + i])) + 1) * 127.5);
  let img = sharp(rgb, { raw: { width, height, channels: 3 } });
  if (upscale > 1) img = img.resize(width * upscale, height * upscale, { kernel: 'nearest' });
  return img.png().toBuffer();
}

/**
 * Any image sharp reads (PNG/JPEG/WebP/SVG; path or bytes) → size×size CHW RGB in [-1, 1], alpha
 * flattened over white — the form demonstrations and the scorer take.
 */
export async function decodeImageToChw(input: Buffer | string, size: number): Promise<Float32Array> {
  const { data, info } = await sharp(input)
    .flatten({ background: { r: 255, g: 255, b: 255 } })
    .resize(size, size, { fit: 'contain', background: { r: 255, g: 255, b: 255 }, kernel: 'lanczos3' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected RGB, got ${info.channels} channels`);
  const hw = size * size;
  const out = new Float32Array(3 * hw);
  for (let i = 0; i < hw; i++) for (let c = 0; c < 3; c++) out[c * hw + i] = data[i * 3 + c] / 127.5 - 1;
  return out;
}
