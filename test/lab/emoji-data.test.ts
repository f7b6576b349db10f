import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  buildEmojiDataset,
  captionFor,
  chooseBrandConcepts,
  commonEvalConcepts,
  COMMON_EVAL_PROMPTS,
  createRng,
  exportImageFolder,
  findConcept,
  loadEmojiCatalog,
  loadEmojiImage,
  normalizePrompt,
  saveImage,
  splitConcepts,
  STYLE_PHRASES,
  type EmojiConcept,
} from '../../src/lab/emoji-data';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'emoji-data-test-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

/** Per-channel mean of the central `box`×`box` square of a CHW image. */
function centreMeans(chw: Float32Array, size: number, box: number): [number, number, number] {
  const plane = size * size;
  const start = Math.floor((size - box) / 2);
  const sums = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    for (let y = start; y < start + box; y++) {
      for (let x = start; x < start + box; x++) sums[c] += chw[c * plane + y * size + x];
    }
  }
  return sums.map((s) => s / (box * box)) as [number, number, number];
}

function assertRedCentre(chw: Float32Array, size: number): void {
  const [r, g, b] = centreMeans(chw, size, Math.max(2, size / 4));
  assert.ok(r > 0.4, `red mean ${r}`);
  assert.ok(g < 0 && b < 0, `green ${g} blue ${b}`);
}

describe('emoji catalogue', () => {
  const catalog = loadEmojiCatalog();

  it('has well over 1,500 concepts with both Noto and Twemoji images', () => {
    const both = catalog.concepts.filter((c) => c.availability.noto && c.availability.twemoji);
    assert.ok(both.length > 1500, `only ${both.length}`);
    assert.ok(catalog.concepts.filter((c) => c.availability.openmoji).length > 1500);
  });

  it('keeps one base form per emoji and keeps ZWJ sequences', () => {
    assert.equal(new Set(catalog.concepts.map((c) => c.id)).size, catalog.concepts.length);
    assert.ok(!catalog.concepts.some((c) => /1F3F[B-F]/.test(c.id)), 'skin-tone variant present');
    assert.ok(!catalog.concepts.some((c) => c.group === 'component'));
    const blackCat = findConcept(catalog, 'black cat');
    assert.ok(blackCat && blackCat.id.includes('200D'), 'ZWJ sequence missing');
    assert.equal(findConcept(catalog, '2764-FE0F')?.label, 'red heart');
    for (const c of catalog.concepts) {
      assert.match(c.label, /^[a-z0-9]+( [a-z0-9]+)*$/, c.displayLabel);
      for (const t of c.tags) assert.match(t, /^[a-z0-9]+( [a-z0-9]+)*$/);
    }
  });

  it('finds the common evaluation prompts', () => {
    for (const p of COMMON_EVAL_PROMPTS) {
      const c = findConcept(catalog, p.prompt);
      assert.ok(c, p.prompt);
      assert.equal(c.id, p.id);
      assert.ok(c.availability.noto && c.availability.twemoji && c.availability.openmoji, p.prompt);
    }
    assert.equal(findConcept(catalog, 'tree')?.label, 'deciduous tree');
  });
});

describe('splits', () => {
  const catalog = loadEmojiCatalog();

  it('are disjoint, complete, deterministic, ~10% held out and keep common prompts in train', () => {
    const a = splitConcepts(catalog.concepts);
    const b = splitConcepts(catalog.concepts.slice().reverse());
    const ids = (xs: EmojiConcept[]) => xs.map((c) => c.id).sort();
    assert.deepEqual(ids(a.train), ids(b.train));
    assert.deepEqual(ids(a.heldOut), ids(b.heldOut));
    const train = new Set(a.train.map((c) => c.id));
    assert.ok(a.heldOut.every((c) => !train.has(c.id)));
    assert.equal(a.train.length + a.heldOut.length, catalog.concepts.length);
    const share = a.heldOut.length / catalog.concepts.length;
    assert.ok(share > 0.08 && share < 0.12, `held-out share ${share}`);
    for (const c of commonEvalConcepts(catalog)) assert.ok(train.has(c.id), c.label);
    const other = splitConcepts(catalog.concepts, { seed: 'another seed' });
    assert.notDeepEqual(ids(other.heldOut), ids(a.heldOut));
  });

  it('chooses a deterministic brand set disjoint from held-out prompts', () => {
    const prompts = COMMON_EVAL_PROMPTS.map((p) => p.prompt);
    const brand = chooseBrandConcepts(catalog, prompts);
    assert.equal(brand.length, 48);
    assert.deepEqual(
      chooseBrandConcepts(catalog, prompts).map((c) => c.id),
      brand.map((c) => c.id),
    );
    const evalIds = new Set(commonEvalConcepts(catalog).map((c) => c.id));
    for (const c of brand) {
      assert.ok(c.availability.openmoji);
      assert.ok(!evalIds.has(c.id), c.label);
      assert.ok(!/(^| )(tree|sun|rocket|pizza)( |$)/.test(c.label), c.label);
    }
    assert.ok(new Set(brand.map((c) => c.group)).size >= 6, 'brand set should span groups');
    const heldOut = splitConcepts(catalog.concepts).heldOut.slice(0, 20).map((c) => c.label);
    const custom = chooseBrandConcepts(catalog, heldOut, { count: 24, excludeSameSubgroup: true });
    const heldIds = new Set(heldOut.map((l) => findConcept(catalog, l)!.id));
    assert.equal(custom.length, 24);
    assert.ok(custom.every((c) => !heldIds.has(c.id)));
  });
});

describe('captions', () => {
  const catalog = loadEmojiCatalog();
  const heart = findConcept(catalog, 'red heart')!;

  it('are lower-case label, tags and style phrase', () => {
    assert.equal(captionFor(heart, 'noto'), 'red heart, emotion, love, noto style');
    assert.equal(captionFor(heart, 'twemoji', undefined, { maxTags: 0 }), 'red heart, twemoji style');
    assert.equal(captionFor(heart, null), 'red heart, emotion, love');
    const flag = findConcept(catalog, 'flag: United States')!;
    assert.ok(captionFor(flag, 'openmoji').startsWith('flag united states'));
    assert.equal(normalizePrompt('Keycap: #, “Noto” style'), 'keycap number sign, noto style');
  });

  it('are deterministic under a seed and always carry the style phrase', () => {
    const pizza = findConcept(catalog, 'pizza')!;
    for (const style of ['noto', 'twemoji', 'openmoji'] as const) {
      const a = Array.from({ length: 20 }, (_, i) => captionFor(pizza, style, createRng(i)));
      const b = Array.from({ length: 20 }, (_, i) => captionFor(pizza, style, createRng(i)));
      assert.deepEqual(a, b);
      assert.ok(new Set(a).size > 3, 'tag dropout should vary captions');
      for (const c of a) {
        assert.ok(c.startsWith('pizza') && c.endsWith(`, ${STYLE_PHRASES[style]}`), c);
        assert.ok(!/[:'"]/.test(c));
      }
    }
    assert.equal(captionFor(pizza, 'noto', 123), captionFor(pizza, 'noto', 123));
  });
});

describe('images', () => {
  const catalog = loadEmojiCatalog();
  const heart = findConcept(catalog, 'red heart')!;

  it('loads Noto and Twemoji as CHW floats in [-1, 1], red in the centre of a red heart', async () => {
    for (const style of ['noto', 'twemoji'] as const) {
      for (const size of [16, 32, 64]) {
        const img = await loadEmojiImage(heart, style, size);
        assert.equal(img.length, 3 * size * size);
        let min = Infinity;
        let max = -Infinity;
        for (const v of img) {
          min = Math.min(min, v);
          max = Math.max(max, v);
        }
        assert.ok(min >= -1 && max <= 1, `${style} ${size}: range ${min}..${max}`);
        assert.ok(max - min > 0.5, 'blank image');
        assert.equal(img[0], 1, 'corner should be the white background');
        assertRedCentre(img, size);
      }
    }
  });

  it('rasterises OpenMoji SVGs', async () => {
    const img = await loadEmojiImage(heart, 'openmoji', 64);
    assert.equal(img.length, 3 * 64 * 64);
    assertRedCentre(img, 64);
    // The black outline survives the downscale.
    assert.ok(img.slice(0, 64 * 64).some((v) => v < -0.5), 'no dark outline pixels');
  });

  it('saves PNGs and exports an image folder with caption sidecars', async () => {
    const img = await loadEmojiImage(heart, 'noto', 32);
    const file = path.join(tmpRoot, 'png', 'heart.png');
    await saveImage(img, 32, file);
    assert.deepEqual([...fs.readFileSync(file).subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');

    const brand = chooseBrandConcepts(catalog, undefined, { count: 4 });
    const dir = path.join(tmpRoot, 'brand');
    const written = await exportImageFolder(brand, 'openmoji', dir, 64);
    assert.equal(written.length, 4);
    for (const w of written) {
      assert.ok(fs.statSync(w.image).size > 100);
      const caption = fs.readFileSync(w.captionFile, 'utf8').trim();
      assert.ok(caption.endsWith('openmoji style'), caption);
    }
    const plain = await exportImageFolder(brand.slice(0, 1), 'openmoji', path.join(tmpRoot, 'plain'), 32, {
      caption: { stylePhrase: null },
    });
    assert.ok(!plain[0].caption.includes('style'));
  });
});

describe('dataset cache', () => {
  it('builds a small subset and round-trips through the cache', async () => {
    const cacheDir = path.join(tmpRoot, 'cache');
    const opts = { styles: ['noto', 'twemoji'] as const, split: 'train' as const, size: 16, limit: 12, cacheDir };
    const built = await buildEmojiDataset({ ...opts, styles: [...opts.styles] });
    assert.equal(built.fromCache, false);
    assert.equal(built.count, 24);
    assert.equal(built.images.length, 24 * 3 * 16 * 16);
    assert.equal(built.captions.length, 24);
    assert.deepEqual(built.styles.slice(0, 2), ['noto', 'twemoji']);
    assert.equal(built.conceptIds[0], built.conceptIds[1]);
    assert.ok(built.captions[0].endsWith('noto style') && built.captions[1].endsWith('twemoji style'));
    assert.ok(fs.existsSync(built.cacheFile!));

    const started = process.hrtime.bigint();
    const loaded = await buildEmojiDataset({ ...opts, styles: [...opts.styles] });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(loaded.fromCache, true);
    assert.ok(ms < 1000, `cache load took ${ms} ms`);
    assert.deepEqual(loaded.captions, built.captions);
    assert.deepEqual(loaded.conceptIds, built.conceptIds);
    assert.deepEqual(loaded.styles, built.styles);
    assert.deepEqual(loaded.images, built.images);

    // A different key (size) must not reuse the file.
    const other = await buildEmojiDataset({ ...opts, styles: ['noto'], size: 16, limit: 3 });
    assert.equal(other.fromCache, false);
    assert.equal(other.count, 3);

    const heldOut = await buildEmojiDataset({ split: 'heldOut', limit: 2, size: 16, cacheDir: null });
    const train = new Set(built.conceptIds);
    assert.ok(heldOut.conceptIds.every((id) => !train.has(id)));
  });
});
