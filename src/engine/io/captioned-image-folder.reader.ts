import * as fsp from 'fs/promises';
import * as path from 'path';
import { decodeImageToChw } from '../pipeline/image-encoding';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp']);

export interface CaptionedImage {
  file: string;
  image: Float32Array;
  caption: string;
}

/** Images in a folder with `<name>.txt` sidecar captions (missing caption → empty), decoded at `size`. */
export async function readCaptionedImageFolder(dir: string, size: number): Promise<CaptionedImage[]> {
  const names = (await fsp.readdir(dir)).filter((n) => IMAGE_EXTENSIONS.has(path.extname(n).toLowerCase())).sort();
  const out: CaptionedImage[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    let caption = '';
    try {
      caption = (await fsp.readFile(path.join(dir, `${path.parse(name).name}.txt`), 'utf8')).trim();
    } catch {
      // uncaptioned image
    }
    out.push({ file, image: await decodeImageToChw(file, size), caption });
  }
  return out;
}
