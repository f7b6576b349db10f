import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { captionFor } from './emoji-caption';
import { emojiPackageVersions, loadEmojiCatalog } from './emoji-catalog';
import { BASE_TRAINING_STYLES, type EmojiConcept, type EmojiStyle } from './emoji-data.types';
import { assertImageSize, loadEmojiPixels } from './emoji-image.loader';
import { conceptsForSplit, DEFAULT_HELD_OUT_FRACTION, DEFAULT_SPLIT_SEED, type EmojiSplitName } from './emoji-splits';
import { mapWithConcurrency } from './concurrency-pool.util';
import { packageVersion } from './package-paths.util';

/** Bumped whenever image decoding, captions or the file layout change, to invalidate old caches. */
const CACHE_FORMAT_VERSION = 1;
const MAGIC = Buffer.from('SAASEMJ1', 'latin1');

export const DEFAULT_EMOJI_CACHE_DIR = path.join('.cache', 'emoji');

export interface BuildEmojiDatasetOptions {
  /** Styles to include (default Noto + Twemoji, the base-model training styles). */
  styles?: readonly EmojiStyle[];
  split?: EmojiSplitName;
  /** Side length in pixels (default 32). */
  size?: number;
  /** Use at most this many concepts of the split (in catalogue order); for tests and quick runs. */
  limit?: number;
  /** Explicit concepts instead of a split (e.g. a brand set). */
  concepts?: readonly EmojiConcept[];
  /** Cache directory (default `.cache/emoji/` under the working directory); null disables caching. */
  cacheDir?: string | null;
  /** Images decoded in parallel (default 2 × cores). */
  concurrency?: number;
  splitSeed?: string;
  heldOutFraction?: number;
  includeFlags?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface EmojiDataset {
  size: number;
  count: number;
  /** N × 3 × size × size, CHW per image, RGB in [-1, 1] on white. */
  images: Float32Array;
  /** Stable default caption per image (label, first tags, style phrase); re-caption with captionFor for variety. */
  captions: string[];
  conceptIds: string[];
  styles: EmojiStyle[];
  fromCache: boolean;
  cacheFile?: string;
}

interface CacheHeader {
  key: string;
  size: number;
  count: number;
  captions: string[];
  conceptIds: string[];
  styles: EmojiStyle[];
}

function cacheKeyFor(options: BuildEmojiDatasetOptions, styles: readonly EmojiStyle[], size: number): string {
  const material = {
    format: CACHE_FORMAT_VERSION,
    styles,
    split: options.concepts ? null : (options.split ?? 'train'),
    concepts: options.concepts ? options.concepts.map((c) => c.id) : null,
    size,
    limit: options.limit ?? null,
    splitSeed: options.splitSeed ?? DEFAULT_SPLIT_SEED,
    heldOutFraction: options.heldOutFraction ?? DEFAULT_HELD_OUT_FRACTION,
    includeFlags: options.includeFlags ?? true,
    versions: { ...emojiPackageVersions(), sharp: packageVersion('sharp') },
  };
  return createHash('sha256').update(JSON.stringify(material)).digest('hex').slice(0, 20);
}

function cacheFileName(options: BuildEmojiDatasetOptions, styles: readonly EmojiStyle[], size: number, key: string): string {
  const what = options.concepts ? 'custom' : (options.split ?? 'train');
  return `emoji-${what}-${styles.join('+')}-${size}px-${key}.bin`;
}

function u8ToImages(pixels: Uint8Array): Float32Array {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] / 127.5 - 1;
  return out;
}

function readCache(file: string, key: string): EmojiDataset | undefined {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  if (buf.length < MAGIC.length + 4 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const headerLength = buf.readUInt32LE(MAGIC.length);
  const dataStart = MAGIC.length + 4 + headerLength;
  if (dataStart > buf.length) return undefined;
  let header: CacheHeader;
  try {
    header = JSON.parse(buf.subarray(MAGIC.length + 4, dataStart).toString('utf8')) as CacheHeader;
  } catch {
    return undefined;
  }
  const expected = header.count * 3 * header.size * header.size;
  if (header.key !== key || buf.length - dataStart !== expected) return undefined;
  return {
    size: header.size,
    count: header.count,
    images: u8ToImages(new Uint8Array(buf.buffer, buf.byteOffset + dataStart, expected)),
    captions: header.captions,
    conceptIds: header.conceptIds,
    styles: header.styles,
    fromCache: true,
    cacheFile: file,
  };
}

function writeCache(file: string, header: CacheHeader, pixels: Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(MAGIC.length + 4);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt32LE(headerBytes.length, MAGIC.length);
  // Write then rename, so a concurrent or interrupted run never sees a half-written cache.
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, Buffer.concat([prefix, headerBytes, Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength)]));
  fs.renameSync(tmp, file);
}

/**
 * Decodes every (concept, style) image of a split into one float tensor, with captions. Images are
 * ordered concept by concept, styles in the given order within a concept, skipping styles a concept has
 * no image for. Results are cached as bytes keyed by options and package versions, so later runs only
 * read one file.
 */
export async function buildEmojiDataset(options: BuildEmojiDatasetOptions = {}): Promise<EmojiDataset> {
  const styles = [...(options.styles ?? BASE_TRAINING_STYLES)];
  if (styles.length === 0) throw new Error('at least one style is required');
  const size = options.size ?? 32;
  assertImageSize(size);
  const cacheDir = options.cacheDir === undefined ? path.resolve(DEFAULT_EMOJI_CACHE_DIR) : options.cacheDir;
  const key = cacheKeyFor(options, styles, size);
  const cacheFile = cacheDir ? path.join(cacheDir, cacheFileName(options, styles, size, key)) : undefined;
  if (cacheFile) {
    const hit = readCache(cacheFile, key);
    if (hit) return hit;
  }

  let concepts: EmojiConcept[];
  if (options.concepts) {
    concepts = options.concepts.slice();
  } else {
    const catalog = loadEmojiCatalog({ includeFlags: options.includeFlags ?? true });
    concepts = conceptsForSplit(catalog.concepts, options.split ?? 'train', {
      seed: options.splitSeed,
      heldOutFraction: options.heldOutFraction,
    });
  }
  if (options.limit !== undefined) concepts = concepts.slice(0, Math.max(0, options.limit));

  const items: Array<{ concept: EmojiConcept; style: EmojiStyle }> = [];
  for (const concept of concepts) {
    for (const style of styles) if (concept.availability[style]) items.push({ concept, style });
  }

  const imageBytes = 3 * size * size;
  const pixels = new Uint8Array(items.length * imageBytes);
  let done = 0;
  await mapWithConcurrency(items, options.concurrency ?? Math.max(2, 2 * os.availableParallelism()), async (item, index) => {
    const hwc = await loadEmojiPixels(item.concept, item.style, size);
    // Stored CHW so the float view is a straight element-wise map.
    const base = index * imageBytes;
    const plane = size * size;
    for (let i = 0; i < plane; i++) {
      pixels[base + i] = hwc[3 * i];
      pixels[base + plane + i] = hwc[3 * i + 1];
      pixels[base + 2 * plane + i] = hwc[3 * i + 2];
    }
    options.onProgress?.(++done, items.length);
  });

  const header: CacheHeader = {
    key,
    size,
    count: items.length,
    captions: items.map((it) => captionFor(it.concept, it.style)),
    conceptIds: items.map((it) => it.concept.id),
    styles: items.map((it) => it.style),
  };
  if (cacheFile) writeCache(cacheFile, header, pixels);
  return {
    size,
    count: items.length,
    images: u8ToImages(pixels),
    captions: header.captions,
    conceptIds: header.conceptIds,
    styles: header.styles,
    fromCache: false,
    cacheFile,
  };
}
