import * as fs from 'node:fs';
import * as path from 'node:path';
import { captionFor, type CaptionOptions } from './emoji-caption';
import type { EmojiConcept, EmojiStyle } from './emoji-data.types';
import { loadEmojiPixels } from './emoji-image.loader';
import { mapWithConcurrency } from './concurrency-pool.util';
import { requireFromProject } from './package-paths.util';
import { loadEmojiCatalog } from './emoji-catalog';
import { chooseBrandConcepts, type BrandSetOptions } from './emoji-splits';

type SharpFactory = typeof import('sharp');

export interface ExportImageFolderOptions {
  /** Caption options for the `.txt` sidecars (e.g. `stylePhrase: null` for content-only captions). */
  caption?: CaptionOptions;
  concurrency?: number;
}

export interface ExportedImage {
  conceptId: string;
  image: string;
  captionFile: string;
  caption: string;
}

/**
 * Writes `<hexcode>.png` plus a `<hexcode>.txt` caption sidecar per concept: the image-folder layout the
 * fine-tuning upload accepts. Concepts without an image in `style` are skipped.
 */
export async function exportImageFolder(
  concepts: readonly EmojiConcept[],
  style: EmojiStyle,
  dir: string,
  size = 64,
  options: ExportImageFolderOptions = {},
): Promise<ExportedImage[]> {
  await fs.promises.mkdir(dir, { recursive: true });
  const sharp = requireFromProject<SharpFactory>('sharp');
  const usable = concepts.filter((c) => c.availability[style]);
  return mapWithConcurrency(usable, options.concurrency ?? 4, async (concept) => {
    const hwc = await loadEmojiPixels(concept, style, size);
    const stem = concept.id.toLowerCase();
    const image = path.join(dir, `${stem}.png`);
    const captionFile = path.join(dir, `${stem}.txt`);
    const caption = captionFor(concept, style, undefined, options.caption);
    await sharp(Buffer.from(hwc.buffer, hwc.byteOffset, hwc.byteLength), { raw: { width: size, height: size, channels: 3 } })
      .png()
      .toFile(image);
    await fs.promises.writeFile(captionFile, `${caption}\n`);
    return { conceptId: concept.id, image, captionFile, caption };
  });
}

/** Writes the OpenMoji brand demo upload set (default 48 images at 64 px, disjoint from the eval prompts). */
export async function exportBrandDemoSet(
  dir: string,
  options: BrandSetOptions & ExportImageFolderOptions & { size?: number; heldOutPrompts?: readonly string[] } = {},
): Promise<ExportedImage[]> {
  const concepts = chooseBrandConcepts(loadEmojiCatalog(), options.heldOutPrompts, options);
  return exportImageFolder(concepts, 'openmoji', dir, options.size ?? 64, options);
}
