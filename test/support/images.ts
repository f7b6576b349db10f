import sharp from 'sharp';

export interface Rgba {
  r: number;
  g: number;
  b: number;
  alpha?: number;
}

/** A solid image with a distinct pixel pattern per `seed`, so different seeds never collide as duplicates. */
async function raw(width: number, height: number, color: Rgba, seed: number): Promise<sharp.Sharp> {
  const channels = 4;
  const data = Buffer.alloc(width * height * channels);
  for (let i = 0; i < width * height; i++) {
    data[i * 4] = color.r;
    data[i * 4 + 1] = color.g;
    data[i * 4 + 2] = color.b;
    data[i * 4 + 3] = Math.round((color.alpha ?? 1) * 255);
  }
  // A seed-dependent mark in the first row makes each fixture unique.
  for (let x = 0; x < Math.min(width, 16); x++) {
    data[x * 4] = (seed * 37 + x * 11) & 0xff;
    data[x * 4 + 3] = 255;
  }
  return sharp(data, { raw: { width, height, channels } });
}

export async function png(width = 32, height = 32, color: Rgba = { r: 200, g: 40, b: 40 }, seed = 0): Promise<Buffer> {
  return (await raw(width, height, color, seed)).png().toBuffer();
}

export async function jpeg(width = 32, height = 32, color: Rgba = { r: 40, g: 200, b: 40 }, seed = 0): Promise<Buffer> {
  return (await raw(width, height, color, seed)).jpeg({ quality: 90 }).toBuffer();
}

export async function webp(width = 32, height = 32, color: Rgba = { r: 40, g: 40, b: 200 }, seed = 0): Promise<Buffer> {
  return (await raw(width, height, color, seed)).webp({ lossless: true }).toBuffer();
}

export async function gif(width = 32, height = 32): Promise<Buffer> {
  return (await raw(width, height, { r: 10, g: 10, b: 10 }, 0)).gif().toBuffer();
}
