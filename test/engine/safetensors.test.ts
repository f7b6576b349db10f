import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  bf16BitsToF32,
  f16BitsToF32,
  f32ArrayToF16Bits,
  f16BitsToF32Array,
  f32ToBf16Bits,
  f32ToF16Bits,
  roundToF16,
} from '../../src/engine/io/float16';
import {
  parseSafetensors,
  readSafetensorsFile,
  readSafetensorsHeader,
  serializeSafetensors,
  writeSafetensorsFile,
  type NamedTensor,
} from '../../src/engine/io/safetensors';
import { parseSafetensorsHeader, SafetensorsError } from '../../src/engine/io/safetensors-header';
import { buildSafetensors, peftLora } from '../support/safetensors';
import {
  createModelIndex,
  listComponents,
  readComponentConfig,
  readComponentWeights,
  readModelIndex,
  writeComponent,
  writeModelFolder,
  writeModelIndex,
} from '../../src/engine/io/model-folder';

// ---- helpers that build files by hand, independent of the writer -------------------------------

function le64(n: number): number[] {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return [...b];
}
function bytesOf(view: ArrayBufferView): number[] {
  return [...new Uint8Array(view.buffer, view.byteOffset, view.byteLength)];
}
function ascii(s: string): number[] {
  return [...Buffer.from(s, 'utf8')];
}
/** Assembles a file: prefix, header text padded with `pad` spaces, raw data. */
function handMade(header: string, pad: number, data: number[]): Uint8Array {
  const h = ascii(header).concat(new Array(pad).fill(0x20));
  return Uint8Array.from([...le64(h.length), ...h, ...data]);
}
async function tmpDir(): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), 'saas-io-'));
}

// ---- fp16 / bf16 --------------------------------------------------------------------------------

test('fp16: known bit patterns', () => {
  const cases: Array<[number, number]> = [
    [1.0, 0x3c00],
    [-1.0, 0xbc00],
    [0.5, 0x3800],
    [2.0, 0x4000],
    [65504, 0x7bff], // largest finite
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -14 - 2 ** -24, 0x03ff], // largest subnormal
    [1e-8, 0x0000], // underflows to +0
    [-1e-8, 0x8000], // underflows to -0
    [70000, 0x7c00], // overflows to inf
    [-70000, 0xfc00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [0, 0x0000],
    [-0, 0x8000],
    [1 + 2 ** -11, 0x3c00], // tie between 0x3c00 and 0x3c01: to even
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3c01 and 0x3c02: to even
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie: up
    [65519, 0x7bff], // below the midpoint to 65536
    [65520, 0x7c00], // the midpoint: ties to even = inf
    [2 ** -25, 0x0000], // half the smallest subnormal: tie to even (0)
    [1.5 * 2 ** -25, 0x0001],
    [3 * 2 ** -25, 0x0002], // tie between 1 and 2 subnormal units
    [2 ** -14 - 2 ** -25, 0x0400], // tie between largest subnormal and smallest normal
    [0.1, 0x2e66],
    [-2.5, 0xc100],
  ];
  for (const [value, bits] of cases) {
    assert.equal(f32ToF16Bits(value), bits, `f32ToF16Bits(${value}) = 0x${f32ToF16Bits(value).toString(16)}, want 0x${bits.toString(16)}`);
  }
  const nan = f32ToF16Bits(NaN);
  assert.equal(nan & 0x7c00, 0x7c00);
  assert.notEqual(nan & 0x03ff, 0);
  // A NaN whose payload lives only in low float32 bits must not become inf.
  const lowPayloadNan = new Float32Array(new Uint32Array([0x7f800001]).buffer)[0];
  assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(lowPayloadNan))));
});

test('fp16 → fp32: known values and exact round trip of all 65536 patterns', () => {
  assert.equal(f16BitsToF32(0x3c00), 1);
  assert.equal(f16BitsToF32(0x7bff), 65504);
  assert.equal(f16BitsToF32(0x0001), 2 ** -24);
  assert.equal(f16BitsToF32(0x03ff), 2 ** -14 - 2 ** -24);
  assert.equal(f16BitsToF32(0x7c00), Infinity);
  assert.equal(f16BitsToF32(0xfc00), -Infinity);
  assert.ok(Object.is(f16BitsToF32(0x8000), -0));
  assert.ok(Number.isNaN(f16BitsToF32(0x7e00)));
  const all = new Uint16Array(65536).map((_, i) => i);
  const asF32 = f16BitsToF32Array(all);
  const back = f32ArrayToF16Bits(asF32);
  for (let h = 0; h < 65536; h++) {
    const scalar = f16BitsToF32(h);
    assert.ok(Object.is(asF32[h], scalar) || (Number.isNaN(scalar) && Number.isNaN(asF32[h]))); // bulk = scalar
    const isNan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (isNan) assert.ok(Number.isNaN(asF32[h]));
    else assert.equal(back[h], h, `pattern 0x${h.toString(16)}`);
  }
});

test('fp16: rounding matches a brute-force nearest-even search', () => {
  // All positive finite fp16 values in increasing order (bits 0..0x7bff are monotonic).
  const values = Array.from({ length: 0x7c00 }, (_, h) => f16BitsToF32(h));
  const nearest = (x: number): number => {
    if (x >= 65520) return 0x7c00;
    let lo = 0;
    let hi = values.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (values[mid] <= x) lo = mid;
      else hi = mid;
    }
    const dl = x - values[lo];
    const dh = values[hi] - x;
    if (dl < dh) return lo;
    if (dh < dl) return hi;
    return lo % 2 === 0 ? lo : hi;
  };
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const samples = new Float32Array(4000);
  for (let i = 0; i < samples.length; i++) samples[i] = (rand() - 0.5) * 2 ** Math.floor(rand() * 44 - 28);
  const bulk = f32ArrayToF16Bits(samples);
  for (let i = 0; i < samples.length; i++) {
    const x = samples[i];
    const want = (x < 0 || Object.is(x, -0) ? 0x8000 : 0) | nearest(Math.abs(x));
    assert.equal(bulk[i], want, `x=${x}`);
    assert.equal(f32ToF16Bits(x), want);
  }
});

test('bf16: reading and rounding', () => {
  assert.equal(bf16BitsToF32(0x3f80), 1);
  assert.equal(bf16BitsToF32(0xc040), -3);
  assert.equal(bf16BitsToF32(0x7f80), Infinity);
  assert.ok(Number.isNaN(bf16BitsToF32(0x7fc0)));
  assert.equal(f32ToBf16Bits(1), 0x3f80);
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80); // tie → even
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82); // tie → even (up)
  assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN))));
});

// ---- safetensors --------------------------------------------------------------------------------

test('parses a file assembled byte by byte from the spec (all supported dtypes, any key order)', () => {
  const f16 = new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00]); // 1, -2, 2^-24, inf
  const bf16 = new Uint16Array([0x3f80, 0x4040]); // 1, 3
  const f32 = new Float32Array([0.25, -8, 1e-3]);
  const i64 = new BigInt64Array([-5n, 1234567890123n]);
  const i32 = new Int32Array([7, -9]);
  // Data layout: f32 [0,12) f16 [12,20) bf16 [20,24) i32 [24,32) i64 [32,48); keys deliberately shuffled.
  const header =
    '{"i64":{"dtype":"I64","shape":[2],"data_offsets":[32,48]},' +
    '"__metadata__":{"format":"pt","note":"hand made"},' +
    '"half":{"dtype":"F16","shape":[2,2],"data_offsets":[12,20]},' +
    '"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},' +
    '"brain":{"dtype":"BF16","shape":[1,2],"data_offsets":[20,24]},' +
    '"i32":{"dtype":"I32","shape":[2],"data_offsets":[24,32]}}';
  const pad = (8 - (Buffer.byteLength(header) % 8)) % 8;
  const data = [...bytesOf(f32), ...bytesOf(f16), ...bytesOf(bf16), ...bytesOf(i32), ...bytesOf(i64)];
  const file = parseSafetensors(handMade(header, pad, data));
  assert.deepEqual(file.metadata, { format: 'pt', note: 'hand made' });
  assert.deepEqual([...file.tensors.keys()], ['w', 'half', 'brain', 'i32', 'i64']); // file order
  assert.deepEqual(file.tensors.get('half')!.shape, [2, 2]);
  assert.deepEqual([...file.tensors.get('half')!.data], [1, -2, 2 ** -24, Infinity]);
  assert.deepEqual([...file.tensors.get('brain')!.data], [1, 3]);
  assert.deepEqual([...file.tensors.get('w')!.data], [...f32]);
  assert.deepEqual([...file.tensors.get('i64')!.data], [-5, Math.fround(1234567890123)]);
  assert.deepEqual([...file.tensors.get('i32')!.data], [7, -9]);
  assert.equal(file.dtypes.get('brain'), 'BF16');

  // A copy at an odd byte offset inside a larger buffer still parses (no alignment assumptions).
  const shifted = new Uint8Array(handMade(header, pad, data).length + 3);
  shifted.set(handMade(header, pad, data), 3);
  assert.deepEqual([...parseSafetensors(shifted.subarray(3)).tensors.get('w')!.data], [...f32]);
});

test('writer output matches the reference writer byte for byte', () => {
  const t = { shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) };
  // 64-byte header: no padding needed.
  const h1 = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
  assert.deepEqual([...serializeSafetensors({ 'attn.0': t })], [...handMade(h1, 0, bytesOf(t.data))]);
  // 65-byte header: padded with 7 spaces to 72.
  const t4 = { shape: [1, 1, 2, 3], data: t.data };
  const h2 = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
  const out2 = serializeSafetensors(new Map([['attn0', t4]]));
  assert.deepEqual([...out2], [...handMade(h2, 7, bytesOf(t.data))]);
  assert.equal(out2.readUInt32LE(0), 72);
  // Empty file, with and without metadata.
  assert.deepEqual([...serializeSafetensors({})], [...handMade('{}', 6, [])]);
  assert.deepEqual([...serializeSafetensors({}, { metadata: { framework: 'pt' } })], [...handMade('{"__metadata__":{"framework":"pt"}}', 5, [])]);
});

test('writer orders tensors by name (and by dtype alignment first) and aligns the header', () => {
  const mk = (n: number): NamedTensor => ({ shape: [n], data: new Float32Array(n).fill(n) });
  const buf = serializeSafetensors({ 'b.weight': mk(3), 'a.bias': mk(1), 'a.weight': mk(2), '_x': mk(1) }, { dtypes: { _x: 'F16' } });
  const header = parseSafetensorsHeader(buf);
  assert.equal((header.dataStart - 8) % 8, 0);
  assert.deepEqual([...header.tensors.keys()], ['a.bias', 'a.weight', 'b.weight', '_x']);
  assert.deepEqual(header.tensors.get('a.weight')!.dataOffsets, [4, 12]);
  assert.equal(header.tensors.get('_x')!.dtype, 'F16');
  for (let len = 1; len < 20; len++) {
    const b = serializeSafetensors({ ['x'.repeat(len)]: mk(1) }, { metadata: { k: 'v'.repeat(len) } });
    assert.equal(b.readUInt32LE(0) % 8, 0);
    assert.equal(b[8 + b.readUInt32LE(0) - 1] === 0x20 || b[8 + b.readUInt32LE(0) - 1] === 0x7d, true);
  }
});

test('round trips F32 exactly and F16 to the nearest half, with metadata', () => {
  const data = new Float32Array([0, 1, -1, 3.14159, 1e-5, 65504, 1e5, -0.3333]);
  const tensors = new Map<string, NamedTensor>([
    ['down.0.weight', { shape: [2, 4], data }],
    ['scalar', { shape: [], data: new Float32Array([42]) }],
    ['empty', { shape: [0, 3], data: new Float32Array(0) }],
  ]);
  const metadata = { format: 'pt', 'lora.rank': '4', 'ünïcode': '✓ 🎨' };
  const f32 = parseSafetensors(serializeSafetensors(tensors, { metadata }));
  assert.deepEqual(f32.metadata, metadata);
  assert.deepEqual([...f32.tensors.get('down.0.weight')!.data], [...data]);
  assert.deepEqual(f32.tensors.get('scalar'), { shape: [], data: new Float32Array([42]) });
  assert.deepEqual(f32.tensors.get('empty')!.shape, [0, 3]);

  const f16 = parseSafetensors(serializeSafetensors(tensors, { dtype: 'F16', metadata }));
  assert.equal(f16.dtypes.get('down.0.weight'), 'F16');
  assert.deepEqual([...f16.tensors.get('down.0.weight')!.data], [...roundToF16(data)]);
  assert.equal(f16.tensors.get('down.0.weight')!.data[6], Infinity); // 1e5 overflows fp16
  const bf16 = parseSafetensors(serializeSafetensors(tensors, { dtype: 'BF16' }));
  assert.equal(bf16.tensors.get('down.0.weight')!.data[1], 1);
});

test('rejects malformed files', () => {
  const good = serializeSafetensors({ a: { shape: [2], data: new Float32Array([1, 2]) } });
  assert.throws(() => parseSafetensors(good.subarray(0, 5)), /shorter than 8/);
  assert.throws(() => parseSafetensors(good.subarray(0, good.length - 1)), /data region/);
  assert.throws(() => parseSafetensors(Uint8Array.from([...le64(1e9), 0x7b])), /exceeds/);
  assert.throws(() => parseSafetensors(handMade('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 0, new Array(8).fill(0))), /needs 12/);
  assert.throws(() => parseSafetensors(handMade('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 0, new Array(8).fill(0))), /invalid offsets/);
  assert.throws(() => parseSafetensors(handMade('{"a":{"dtype":"X9","shape":[1],"data_offsets":[0,4]}}', 0, new Array(4).fill(0))), /unknown dtype/);
  assert.throws(() => parseSafetensors(handMade('[]', 6, [])), /start with/);
  assert.throws(() => serializeSafetensors({ a: { shape: [3], data: new Float32Array(2) } }), /shape/);
});

type JsonHeader = Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;

/** Edits the JSON header of a file, keeping its data section. */
function rewriteHeader(file: Buffer, edit: (header: JsonHeader) => void): Buffer {
  const length = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.toString('utf8', 8, 8 + length)) as JsonHeader;
  edit(header);
  const json = Buffer.from(JSON.stringify(header));
  return Buffer.concat([Buffer.from(le64(json.length)), json, file.subarray(8 + length)]);
}

function firstTensor(header: JsonHeader): string {
  return Object.keys(header).find((k) => k !== '__metadata__')!;
}

test('header checks name the reason (what an adapter import answers)', () => {
  const header = parseSafetensorsHeader(peftLora(4, { format: 'pt', rank: '4' }));
  assert.equal(header.tensors.size, 4);
  assert.deepEqual(header.metadata, { format: 'pt', rank: '4' });
  assert.deepEqual(parseSafetensorsHeader(buildSafetensors({ a: [1] })).metadata, {}, 'no __metadata__: an empty map');

  const broken: Array<[string, () => Uint8Array, RegExp]> = [
    ['too short', () => Buffer.alloc(4), /shorter than 8 bytes/],
    ['header length past the end', () => Buffer.concat([Buffer.from(le64(1000)), Buffer.alloc(8)]), /header length 1000 runs past the end of the file/],
    ['absurd header length', () => Buffer.concat([Buffer.from(le64(2 ** 40)), Buffer.alloc(8)]), /header length 1099511627776 exceeds 100000000/],
    ['header not JSON', () => handMade('{nope', 3, []), /header is not valid JSON/],
    ['header not an object', () => handMade('[1,2]', 3, []), /header does not start with "\{"/],
    ['header not UTF-8', () => Uint8Array.from([...le64(4), 0x7b, 0xff, 0xfe, 0x7d]), /not valid UTF-8/],
    ['unknown dtype', () => rewriteHeader(peftLora(), (h) => { h[firstTensor(h)].dtype = 'F13'; }), /unknown dtype "F13"/],
    ['bad shape', () => rewriteHeader(peftLora(), (h) => { h[firstTensor(h)].shape = [4, -1]; }), /invalid shape/],
    ['offsets that do not match the shape', () => rewriteHeader(peftLora(), (h) => { h[firstTensor(h)].shape = [3, 32]; }), /has 512 bytes, but F32\[3,32\] needs 384/],
    ['overlapping tensors', () => rewriteHeader(peftLora(), (h) => { const k = Object.keys(h)[1]; h[k].data_offsets = [0, h[k].data_offsets[1] - h[k].data_offsets[0]]; }), /invalid offsets/],
    ['trailing bytes', () => Buffer.concat([peftLora(), Buffer.alloc(4)]), /data region is 2052 bytes, but the header describes 2048/],
    ['non-string metadata', () => peftLora(4, { rank: 4 as unknown as string }), /__metadata__ value for "rank" is not a string/],
  ];
  for (const [name, make, message] of broken) {
    assert.throws(() => parseSafetensorsHeader(make()), (e: unknown) => e instanceof SafetensorsError && message.test((e as Error).message), name);
  }
});

test('file read/write, header-only reads and tensor filters', async () => {
  const dir = await tmpDir();
  try {
    const file = path.join(dir, 'sub', 'w.safetensors');
    const tensors = { a: { shape: [2], data: new Float32Array([1, 2]) }, b: { shape: [1], data: new Float32Array([3]) } };
    await writeSafetensorsFile(file, tensors, { dtype: 'F16', metadata: { format: 'pt' } });
    assert.deepEqual(await fsp.readdir(path.dirname(file)), ['w.safetensors']); // no temp files left
    const header = await readSafetensorsHeader(file);
    assert.deepEqual([...header.tensors.keys()], ['a', 'b']);
    const onlyB = await readSafetensorsFile(file, { filter: (n) => n === 'b' });
    assert.deepEqual([...onlyB.tensors.keys()], ['b']);
    const all = await readSafetensorsFile(file);
    assert.deepEqual([...all.tensors.get('a')!.data], [1, 2]);
    assert.deepEqual(all.metadata, { format: 'pt' });
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

// ---- diffusers model folders -------------------------------------------------------------------

test('model folder round trip: model_index, configs, F16 weights, shards and variants', async () => {
  const dir = await tmpDir();
  try {
    const unetW = new Map<string, NamedTensor>([
      ['conv_in.weight', { shape: [4, 3, 3, 3], data: Float32Array.from({ length: 108 }, (_, i) => i / 7) }],
      ['conv_in.bias', { shape: [4], data: new Float32Array([0.1, 0.2, 0.3, 0.4]) }],
    ]);
    const textW = { 'text_model.embeddings.token_embedding.weight': { shape: [3, 2], data: new Float32Array([1, 2, 3, 4, 5, 6]) } };
    const index = createModelIndex('StableDiffusionPipeline', {
      unet: ['diffusers', 'UNet2DConditionModel'],
      text_encoder: ['transformers', 'CLIPTextModel'],
      tokenizer: ['transformers', 'PreTrainedTokenizerFast'],
      scheduler: ['diffusers', 'DDIMScheduler'],
      safety_checker: [null, null],
    }, { requires_safety_checker: false });
    await writeModelIndex(dir, index);
    await writeComponent(dir, 'unet', { _class_name: 'UNet2DConditionModel', _diffusers_version: '0.32.0', sample_size: 32 }, unetW, { dtype: 'F16' });
    await writeComponent(dir, 'text_encoder', { architectures: ['CLIPTextModel'], model_type: 'clip_text_model', vocab_size: 3 }, textW);
    await writeComponent(dir, 'scheduler', { _class_name: 'DDIMScheduler', num_train_timesteps: 1000 });

    assert.deepEqual((await fsp.readdir(path.join(dir, 'unet'))).sort(), ['config.json', 'diffusion_pytorch_model.safetensors']);
    assert.deepEqual((await fsp.readdir(path.join(dir, 'text_encoder'))).sort(), ['config.json', 'model.safetensors']);
    assert.deepEqual(await fsp.readdir(path.join(dir, 'scheduler')), ['scheduler_config.json']);
    const indexText = await fsp.readFile(path.join(dir, 'model_index.json'), 'utf8');
    assert.ok(indexText.startsWith('{\n  "_class_name": "StableDiffusionPipeline",\n  "_diffusers_version"'));
    assert.ok(indexText.includes('"unet": [\n    "diffusers",\n    "UNet2DConditionModel"\n  ]'));

    const readIndex = await readModelIndex(dir);
    assert.deepEqual(readIndex, index);
    assert.deepEqual(listComponents(readIndex).map((c) => c.name).sort(), ['safety_checker', 'scheduler', 'text_encoder', 'tokenizer', 'unet']);
    assert.equal((await readComponentConfig(dir, 'unet')).sample_size, 32);
    assert.equal((await readComponentConfig(dir, 'scheduler')).num_train_timesteps, 1000);

    const unet = await readComponentWeights(dir, 'unet');
    assert.equal(unet.metadata.format, 'pt');
    assert.equal(unet.dtypes.get('conv_in.weight'), 'F16');
    assert.deepEqual([...unet.tensors.get('conv_in.weight')!.data], [...roundToF16(unetW.get('conv_in.weight')!.data)]);
    const text = await readComponentWeights(dir, 'text_encoder');
    assert.equal(text.metadata.format, 'pt'); // transformers refuses safetensors files without it
    assert.deepEqual([...text.tensors.get('text_model.embeddings.token_embedding.weight')!.data], [1, 2, 3, 4, 5, 6]);

    // Variant next to the main weights.
    await writeComponent(dir, 'unet', { _class_name: 'UNet2DConditionModel', sample_size: 32 }, unetW, { dtype: 'F16', variant: 'fp16' });
    assert.ok((await fsp.readdir(path.join(dir, 'unet'))).includes('diffusion_pytorch_model.fp16.safetensors'));
    assert.equal((await readComponentWeights(dir, 'unet', { variant: 'fp16' })).tensors.size, 2);

    // A sharded checkpoint through its index.
    const sharded = path.join(dir, 'vae');
    await writeSafetensorsFile(path.join(sharded, 'diffusion_pytorch_model-00001-of-00002.safetensors'), { 'a.weight': { shape: [1], data: new Float32Array([1]) } });
    await writeSafetensorsFile(path.join(sharded, 'diffusion_pytorch_model-00002-of-00002.safetensors'), { 'b.weight': { shape: [2], data: new Float32Array([2, 3]) } }, { dtype: 'F16' });
    await fsp.writeFile(
      path.join(sharded, 'diffusion_pytorch_model.safetensors.index.json'),
      JSON.stringify({
        metadata: { total_size: 8 },
        weight_map: { 'a.weight': 'diffusion_pytorch_model-00001-of-00002.safetensors', 'b.weight': 'diffusion_pytorch_model-00002-of-00002.safetensors' },
      }),
    );
    const vae = await readComponentWeights(dir, 'vae');
    assert.deepEqual([...vae.tensors.keys()].sort(), ['a.weight', 'b.weight']);
    assert.deepEqual([...vae.tensors.get('b.weight')!.data], [2, 3]);
    const onlyA = await readComponentWeights(dir, 'vae', { filter: (n) => n === 'a.weight' });
    assert.deepEqual([...onlyA.tensors.keys()], ['a.weight']);

    await assert.rejects(readComponentWeights(dir, 'tokenizer'), /no safetensors weights/);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('writeModelFolder swaps a complete folder in and leaves the old one intact on failure', async () => {
  const root = await tmpDir();
  try {
    const dir = path.join(root, 'model');
    const build = (sampleSize: number) => async (tmp: string) => {
      await writeComponent(tmp, 'unet', { _class_name: 'UNet2DConditionModel', sample_size: sampleSize }, { w: { shape: [1], data: new Float32Array([sampleSize]) } });
      await writeModelIndex(tmp, createModelIndex('StableDiffusionPipeline', { unet: ['diffusers', 'UNet2DConditionModel'] }));
    };
    await writeModelFolder(dir, build(16));
    await writeModelFolder(dir, build(32));
    assert.equal((await readComponentConfig(dir, 'unet')).sample_size, 32);
    await assert.rejects(
      writeModelFolder(dir, async (tmp) => {
        await build(64)(tmp);
        throw new Error('crash mid-build');
      }),
      /crash mid-build/,
    );
    assert.equal((await readComponentConfig(dir, 'unet')).sample_size, 32);
    assert.deepEqual(await fsp.readdir(root), ['model']); // no temporary folders left behind
  } finally {
    await fsp.rm(root, { recursive: true, force: true });
  }
});
