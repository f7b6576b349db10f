import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeImageToChw, encodeImagePng } from '../../src/engine/pipeline/image-encoding';

/** A width × height RGBA image whose left half is `left` and right half `right`. */
function halves(width: number, height: number, left: number[], right: number[]): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(x < width / 2 ? left : right, (y * width + x) * 4);
  }
  return sharp(data, { raw: { width, height, channels: 4 } }).png().toBuffer();
}

const at = (chw: Float32Array, size: number, c: number, y: number, x: number) => chw[(c * size + y) * size + x];

test('decodes to CHW RGB in [-1, 1] at the requested size', async () => {
  const file = await halves(64, 64, [255, 0, 0, 255], [0, 0, 255, 255]);
  const chw = await decodeImageToChw(file, 16);
  assert.equal(chw.length, 3 * 16 * 16);
  // Far from the seam the colours are exact: red on the left, blue on the right.
  assert.deepEqual([0, 1, 2].map((c) => at(chw, 16, c, 8, 1)), [1, -1, -1]);
  assert.deepEqual([0, 1, 2].map((c) => at(chw, 16, c, 8, 14)), [-1, -1, 1]);
  for (const v of chw) assert.ok(v >= -1 && v <= 1);
});

test('flattens transparency over white and letterboxes non-square images on white', async () => {
  const transparent = await halves(32, 32, [0, 0, 0, 0], [0, 0, 0, 255]);
  const chw = await decodeImageToChw(transparent, 8);
  assert.deepEqual([0, 1, 2].map((c) => at(chw, 8, c, 4, 0)), [1, 1, 1], 'transparent black becomes white');
  assert.deepEqual([0, 1, 2].map((c) => at(chw, 8, c, 4, 7)), [-1, -1, -1]);

  const wide = await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toBuffer();
  const boxed = await decodeImageToChw(wide, 8);
  assert.equal(at(boxed, 8, 0, 0, 4), 1, 'white band above');
  assert.equal(at(boxed, 8, 0, 4, 4), -1, 'image in the middle');
});

test('round-trips encodeImagePng within 8-bit precision, from bytes or a path', async () => {
  const size = 8;
  const original = Float32Array.from({ length: 3 * size * size }, (_, i) => Math.sin(i * 0.37));
  const png = await encodeImagePng(original, size);
  const decoded = await decodeImageToChw(png, size);
  for (let i = 0; i < original.length; i++) assert.ok(Math.abs(decoded[i] - original[i]) <= 1 / 127.5 + 1e-6, `value ${i}`);

  const dir = mkdtempSync(join(tmpdir(), 'saas-decode-'));
  try {
    writeFileSync(join(dir, 'x.png'), png);
    assert.deepEqual(await decodeImageToChw(join(dir, 'x.png'), size), decoded);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(decodeImageToChw(Buffer.from('not an image'), size));
});
