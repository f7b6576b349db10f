import { BadRequestException, PayloadTooLargeException } from '@nestjs/common';
import { promisify } from 'node:util';
import yauzl from 'yauzl';
import type { RejectionReason } from './training-image';

export interface ZipLimits {
  zipEntries: number;
  zipUncompressedBytes: number;
  imageBytes: number;
}

/** An image in the archive, read lazily so only one is in memory at a time. */
export interface ZipImageEntry {
  filename: string;
  caption: string;
  uncompressedBytes: number;
  read(): Promise<Buffer>;
}

export interface ZipContents {
  images: ZipImageEntry[];
  rejected: { filename: string; reason: RejectionReason; detail: string }[];
  close(): void;
}

const IMAGE_EXTENSION = /\.(png|jpe?g|webp)$/i;
const CAPTION_EXTENSION = /\.txt$/i;
const MAX_CAPTION_BYTES = 64 * 1024;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

export function isZip(data: Buffer): boolean {
  // Local file header, or the end-of-central-directory record of an empty archive.
  return data.length >= 4 && data[0] === 0x50 && data[1] === 0x4b && ((data[2] === 3 && data[3] === 4) || (data[2] === 5 && data[3] === 6));
}

/** Entry names are decoded here rather than by yauzl, which would fail the whole archive on one bad name. */
function decodeName(entry: yauzl.Entry): string {
  const raw = entry.fileName as unknown as Buffer;
  const utf8 = (entry.generalPurposeBitFlag & 0x800) !== 0;
  return utf8 ? raw.toString('utf8') : raw.toString('latin1');
}

/** Names that would leave a folder if anyone ever extracted them: absolute, drive-letter or `..` paths. */
export function isUnsafeEntryName(name: string): boolean {
  if (name.includes('\u0000')) return true;
  const normalised = name.replace(/\\/g, '/');
  if (normalised.startsWith('/') || /^[A-Za-z]:/.test(normalised)) return true;
  return normalised.split('/').some((segment) => segment === '..');
}

/** Archive clutter from macOS and friends, skipped without a word. */
function isClutter(name: string): boolean {
  const segments = name.replace(/\\/g, '/').split('/');
  const base = segments[segments.length - 1];
  return segments.includes('__MACOSX') || base.startsWith('._') || base === '.DS_Store' || base === 'Thumbs.db' || base === 'desktop.ini';
}

function stem(name: string): string {
  return name.replace(/\\/g, '/').replace(/\.[^./]*$/, '');
}

function readEntries(zip: yauzl.ZipFile, maxEntries: number): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    if (zip.entryCount > maxEntries) {
      reject(new PayloadTooLargeException(`Archive has ${zip.entryCount} entries; the limit is ${maxEntries}`));
      return;
    }
    const entries: yauzl.Entry[] = [];
    zip.on('entry', (entry: yauzl.Entry) => {
      entries.push(entry);
      zip.readEntry();
    });
    zip.on('end', () => resolve(entries));
    zip.on('error', (error: Error) => reject(new BadRequestException(`Archive is not a valid zip file: ${error.message}`)));
    zip.readEntry();
  });
}

function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (error, stream) => {
      if (error || !stream) {
        reject(error ?? new Error('cannot open entry'));
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', reject);
      stream.on('end', () => resolve(Buffer.concat(chunks)));
    });
  });
}

/**
 * Lists the images of an uploaded zip with their `.txt` sidecar captions. Nothing is ever written
 * to disk under an entry's name; unsafe names, links and non-images are reported, and the declared
 * sizes are checked (yauzl verifies actual sizes against them) before anything is inflated.
 */
export async function openZipArchive(data: Buffer, limits: ZipLimits): Promise<ZipContents> {
  let zip: yauzl.ZipFile;
  try {
    zip = await promisify<Buffer, yauzl.Options, yauzl.ZipFile>(yauzl.fromBuffer)(data, {
      lazyEntries: true,
      decodeStrings: false,
      validateEntrySizes: true,
    });
  } catch (error) {
    throw new BadRequestException(`Archive is not a valid zip file: ${(error as Error).message}`);
  }
  let entries: yauzl.Entry[];
  try {
    entries = await readEntries(zip, limits.zipEntries);
  } catch (error) {
    zip.close();
    throw error;
  }

  const rejected: ZipContents['rejected'] = [];
  const imageEntries: { name: string; entry: yauzl.Entry }[] = [];
  const captionEntries = new Map<string, yauzl.Entry>();
  let declaredTotal = 0;

  for (const entry of entries) {
    const name = decodeName(entry);
    if (name.endsWith('/') || name.endsWith('\\')) continue;
    if (isClutter(name)) continue;
    if (isUnsafeEntryName(name)) {
      rejected.push({ filename: name, reason: 'unsafe_path', detail: 'absolute or parent-relative path in the archive' });
      continue;
    }
    const mode = (entry.externalFileAttributes >>> 16) & S_IFMT;
    if (mode === S_IFLNK) {
      rejected.push({ filename: name, reason: 'unsupported_type', detail: 'symbolic links are not followed' });
      continue;
    }
    if ((entry.generalPurposeBitFlag & 0x1) !== 0) {
      rejected.push({ filename: name, reason: 'unsupported_type', detail: 'encrypted entries are not supported' });
      continue;
    }
    if (CAPTION_EXTENSION.test(name)) {
      if (entry.uncompressedSize > MAX_CAPTION_BYTES) {
        rejected.push({ filename: name, reason: 'too_large', detail: `caption files are limited to ${MAX_CAPTION_BYTES} bytes` });
      } else {
        captionEntries.set(stem(name), entry);
        declaredTotal += entry.uncompressedSize;
      }
      continue;
    }
    if (!IMAGE_EXTENSION.test(name)) {
      rejected.push({ filename: name, reason: 'unsupported_type', detail: 'only .png, .jpg, .jpeg and .webp images (with .txt captions) are read' });
      continue;
    }
    if (entry.uncompressedSize > limits.imageBytes) {
      rejected.push({ filename: name, reason: 'too_large', detail: `${entry.uncompressedSize} bytes; the limit is ${limits.imageBytes} bytes per image` });
      continue;
    }
    declaredTotal += entry.uncompressedSize;
    imageEntries.push({ name, entry });
  }
  if (declaredTotal > limits.zipUncompressedBytes) {
    zip.close();
    throw new PayloadTooLargeException(`Archive expands to ${declaredTotal} bytes; the limit is ${limits.zipUncompressedBytes} bytes`);
  }

  const captions = new Map<string, string>();
  for (const [key, entry] of captionEntries) {
    try {
      captions.set(key, (await readEntry(zip, entry)).toString('utf8').replace(/^\uFEFF/, '').trim());
    } catch (error) {
      rejected.push({ filename: decodeName(entry), reason: 'corrupt', detail: `cannot inflate: ${(error as Error).message}` });
    }
  }

  const images: ZipImageEntry[] = imageEntries.map(({ name, entry }) => ({
    filename: name,
    caption: captions.get(stem(name)) ?? '',
    uncompressedBytes: entry.uncompressedSize,
    read: () => readEntry(zip, entry),
  }));
  return { images, rejected, close: () => zip.close() };
}
