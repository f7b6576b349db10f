import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ProtoWriter, varintSize } from '../../src/engine/onnx/protobuf-writer';
import { attr, encodeModel, OnnxGraph, OnnxModel, OnnxTensor } from '../../src/engine/onnx/onnx-model';
import { createSession, isCudaAvailable, run } from '../../src/engine/onnx/ort-session';
import { parseFields } from '../support/protobuf-fields';

// ---------- helpers ----------

const f32 = (name: string, dims: number[], values: ArrayLike<number>): OnnxTensor => ({
  name,
  dataType: 'float32',
  dims,
  data: Float32Array.from(values),
});

function model(graph: Partial<OnnxGraph> & Pick<OnnxGraph, 'nodes' | 'inputs' | 'outputs'>, extra: Partial<OnnxModel> = {}): Uint8Array {
  return encodeModel({ graph: { name: 'g', initializers: [], ...graph }, producerName: 'onnx-writer-test', ...extra });
}

async function cpuSession(bytes: Uint8Array) {
  return (await createSession(bytes, { executionProvider: 'cpu', intraOpThreads: 1 })).session;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  assert.equal(actual.length, expected.length, 'length');
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    if (!(diff <= tol * Math.max(1, Math.abs(expected[i])))) {
      assert.fail(`index ${i}: got ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

/** Deterministic pseudo-random values in [-1, 1). */
function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const utf8 = (b: bigint | Uint8Array) => Buffer.from(b as Uint8Array).toString('utf8');

// ---------- wire format ----------

test('varint encoding matches hand-computed bytes', () => {
  const cases: [number | bigint, string][] = [
    [0, '00'],
    [1, '01'],
    [127, '7f'],
    [128, '8001'],
    [300, 'ac02'],
    [16383, 'ff7f'],
    [16384, '808001'],
    [2 ** 32 - 1, 'ffffffff0f'],
    [2 ** 32, '8080808010'],
    [2 ** 53 - 1, 'ffffffffffffff0f'],
    [-1, 'ffffffffffffffffff01'],
    [-2, 'feffffffffffffffff01'],
    [(1n << 63n) - 1n, 'ffffffffffffffff7f'],
    [-(1n << 63n), '80808080808080808001'],
  ];
  for (const [v, expected] of cases) {
    const bytes = new ProtoWriter().writeVarint(v).finish();
    assert.equal(hex(bytes), expected, `varint ${v}`);
    assert.equal(varintSize(v), bytes.length, `varintSize ${v}`);
  }
  assert.throws(() => new ProtoWriter().writeVarint(2 ** 53));
  assert.throws(() => new ProtoWriter().writeVarint(1.5));
});

test('tagged fields, packed lists and nested messages match protobuf reference encodings', () => {
  // Examples from the protobuf encoding guide.
  assert.equal(hex(new ProtoWriter().int(1, 150).finish()), '089601');
  assert.equal(hex(new ProtoWriter().string(2, 'testing').finish()), '120774657374696e67');
  assert.equal(hex(new ProtoWriter().message(3, new ProtoWriter().int(1, 150)).finish()), '1a03089601');
  assert.equal(hex(new ProtoWriter().packedInt64(4, [3, 270, 86942]).finish()), '2206038e029ea705');
  // float 1.0 = 0x3f800000, little-endian fixed32.
  assert.equal(hex(new ProtoWriter().float(2, 1).finish()), '150000803f');
  assert.equal(hex(new ProtoWriter().packedFloat(7, [1, -2]).finish()), '3a080000803f000000c0');
  assert.equal(new ProtoWriter().packedInt64(1, []).finish().length, 0);

  // Large (referenced) byte fields interleaved with scalars inside nested messages.
  const big = new Uint8Array(1000).map((_, i) => i & 0xff);
  const inner = new ProtoWriter().int(1, 7).bytes(2, big).int(3, 9);
  const outer = new ProtoWriter().int(1, 1).message(2, inner).int(3, 300);
  const bytes = outer.finish();
  assert.equal(bytes.length, outer.length);
  const top = parseFields(bytes);
  assert.deepEqual(top.map((f) => f.field), [1, 2, 3]);
  assert.equal(top[2].value, 300n);
  const innerFields = parseFields(top[1].value as Uint8Array);
  assert.equal(innerFields[0].value, 7n);
  assert.deepEqual(innerFields[1].value, big);
  assert.equal(innerFields[2].value, 9n);
});

// ---------- end-to-end with onnxruntime-node ----------

test('Add + MatMul with float32 initializers and a symbolic batch dim', async () => {
  const W = rand(12, 1);
  const B = rand(4, 2);
  const bytes = model({
    nodes: [
      { opType: 'MatMul', inputs: ['X', 'W'], outputs: ['XW'], name: 'mm' },
      { opType: 'Add', inputs: ['XW', 'B'], outputs: ['Y'] },
    ],
    inputs: [{ name: 'X', dataType: 'float32', shape: ['batch', 3] }],
    outputs: [{ name: 'Y', dataType: 'float32', shape: ['batch', 4] }],
    initializers: [f32('W', [3, 4], W), f32('B', [4], B)],
  });
  const session = await cpuSession(bytes);
  assert.deepEqual(session.inputNames, ['X']);
  for (const batch of [2, 5]) {
    const X = rand(batch * 3, 10 + batch);
    const { Y } = await run(session, { X: { data: X, dims: [batch, 3] } });
    assert.deepEqual(Y.dims, [batch, 4]);
    const expected = new Float32Array(batch * 4);
    for (let n = 0; n < batch; n++) {
      for (let j = 0; j < 4; j++) {
        let s = B[j];
        for (let k = 0; k < 3; k++) s += X[n * 3 + k] * W[k * 4 + j];
        expected[n * 4 + j] = s;
      }
    }
    assertClose(Y.data as Float32Array, expected);
  }
});

test('Conv with pads/strides int-list attributes matches a naive convolution', async () => {
  const [C, H, Wd, M, K] = [2, 5, 5, 3, 3];
  const stride = 2;
  const pad = 1;
  const X = rand(C * H * Wd, 3);
  const Wt = rand(M * C * K * K, 4);
  const B = rand(M, 5);
  const bytes = model({
    nodes: [
      {
        opType: 'Conv',
        inputs: ['X', 'W', 'B'],
        outputs: ['Y'],
        attributes: {
          kernel_shape: attr.ints([K, K]),
          pads: attr.ints([pad, pad, pad, pad]),
          strides: attr.ints([stride, stride]),
        },
      },
    ],
    inputs: [{ name: 'X', dataType: 'float32', shape: [1, C, H, Wd] }],
    outputs: [{ name: 'Y', dataType: 'float32', shape: [1, M, null, null] }],
    initializers: [f32('W', [M, C, K, K], Wt), f32('B', [M], B)],
  });
  const session = await cpuSession(bytes);
  const { Y } = await run(session, { X: { data: X, dims: [1, C, H, Wd] } });
  const OH = Math.floor((H + 2 * pad - K) / stride) + 1;
  const OW = Math.floor((Wd + 2 * pad - K) / stride) + 1;
  assert.deepEqual(Y.dims, [1, M, OH, OW]);
  const expected = new Float32Array(M * OH * OW);
  for (let m = 0; m < M; m++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        let s = B[m];
        for (let c = 0; c < C; c++) {
          for (let ky = 0; ky < K; ky++) {
            for (let kx = 0; kx < K; kx++) {
              const iy = oy * stride - pad + ky;
              const ix = ox * stride - pad + kx;
              if (iy < 0 || iy >= H || ix < 0 || ix >= Wd) continue;
              s += X[(c * H + iy) * Wd + ix] * Wt[((m * C + c) * K + ky) * K + kx];
            }
          }
        }
        expected[(m * OH + oy) * OW + ox] = s;
      }
    }
  }
  assertClose(Y.data as Float32Array, expected);
});

test('float attribute (LeakyRelu alpha) and string attributes (Resize linear/align_corners, omitted roi input)', async () => {
  const X = Float32Array.from([-1, 2, 3, -4]); // [1,1,2,2]
  const bytes = model({
    nodes: [
      { opType: 'LeakyRelu', inputs: ['X'], outputs: ['L'], attributes: { alpha: attr.float(0.3) } },
      {
        opType: 'Resize',
        // '' skips the optional roi input.
        inputs: ['L', '', 'scales'],
        outputs: ['Y'],
        attributes: { mode: attr.string('linear'), coordinate_transformation_mode: attr.string('align_corners') },
      },
    ],
    inputs: [{ name: 'X', dataType: 'float32', shape: [1, 1, 2, 2] }],
    outputs: [
      { name: 'L', dataType: 'float32', shape: [1, 1, 2, 2] },
      { name: 'Y', dataType: 'float32', shape: [1, 1, 4, 4] },
    ],
    initializers: [f32('scales', [4], [1, 1, 2, 2])],
  });
  const session = await cpuSession(bytes);
  const { L, Y } = await run(session, { X: { data: X, dims: [1, 1, 2, 2] } });
  const l = Array.from(X, (v) => (v < 0 ? 0.3 * v : v));
  assertClose(L.data as Float32Array, l);
  // align_corners on 2 -> 4: source coordinate = i / 3, bilinear.
  const expected: number[] = [];
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      const y = i / 3;
      const x = j / 3;
      expected.push(
        l[0] * (1 - y) * (1 - x) + l[1] * (1 - y) * x + l[2] * y * (1 - x) + l[3] * y * x,
      );
    }
  }
  assert.deepEqual(Y.dims, [1, 1, 4, 4]);
  assertClose(Y.data as Float32Array, expected);
});

test('float16 initializer feeding Cast to float32', async () => {
  // Hand-encoded IEEE half bits and their values.
  const bits = Uint16Array.from([0x3e00, 0xc080, 0x1400, 0x7bff, 0x0000, 0x0001]);
  const values = [1.5, -2.25, 2 ** -10, 65504, 0, 2 ** -24];
  const bytes = model({
    nodes: [
      { opType: 'Cast', inputs: ['H'], outputs: ['Y'], attributes: { to: attr.int(1) } },
      { opType: 'Identity', inputs: ['H'], outputs: ['H16'] },
    ],
    inputs: [],
    outputs: [
      { name: 'Y', dataType: 'float32', shape: [6] },
      { name: 'H16', dataType: 'float16', shape: [6] },
    ],
    initializers: [{ name: 'H', dataType: 'float16', dims: [6], data: bits }],
  });
  const session = await cpuSession(bytes);
  const { Y, H16 } = await run(session, {});
  assert.deepEqual(Array.from(Y.data as Float32Array), values);
  assert.equal(H16.type, 'float16');
  assert.deepEqual(Array.from(H16.data as Uint16Array), Array.from(bits));
});

test('int64 initializer as Reshape shape, negative int attribute (Concat axis -1)', async () => {
  const X = rand(24, 6);
  const bytes = model({
    nodes: [
      { opType: 'Reshape', inputs: ['X', 'shape'], outputs: ['R'] },
      { opType: 'Concat', inputs: ['R', 'R'], outputs: ['Y'], attributes: { axis: attr.int(-1) } },
    ],
    inputs: [{ name: 'X', dataType: 'float32', shape: [2, 3, 4] }],
    outputs: [{ name: 'Y', dataType: 'float32', shape: [4, 12] }],
    initializers: [{ name: 'shape', dataType: 'int64', dims: [2], data: BigInt64Array.from([4n, -1n]) }],
  });
  const session = await cpuSession(bytes);
  const { Y } = await run(session, { X: { data: X, dims: [2, 3, 4] } });
  assert.deepEqual(Y.dims, [4, 12]);
  const expected: number[] = [];
  for (let r = 0; r < 4; r++) {
    const row = Array.from(X.subarray(r * 6, r * 6 + 6));
    expected.push(...row, ...row);
  }
  assert.deepEqual(Array.from(Y.data as Float32Array), expected);
});

test('int32 and bool initializers (Where over Cast)', async () => {
  const bytes = model({
    nodes: [
      { opType: 'Cast', inputs: ['I'], outputs: ['F'], attributes: { to: attr.int(1) } },
      { opType: 'Where', inputs: ['cond', 'F', 'X'], outputs: ['Y'] },
    ],
    inputs: [{ name: 'X', dataType: 'float32', shape: [4] }],
    outputs: [{ name: 'Y', dataType: 'float32', shape: [4] }],
    initializers: [
      { name: 'I', dataType: 'int32', dims: [4], data: Int32Array.from([-7, 8, 2147483647, 0]) },
      { name: 'cond', dataType: 'bool', dims: [4], data: Uint8Array.from([1, 0, 1, 0]) },
    ],
  });
  const session = await cpuSession(bytes);
  const { Y } = await run(session, { X: { data: Float32Array.from([10, 20, 30, 40]), dims: [4] } });
  assert.deepEqual(Array.from(Y.data as Float32Array), [-7, 20, 2147483648, 40]);
});

test('graph and tensor attributes (If with Constant branches) and a scalar bool input', async () => {
  const branch = (name: string, v: number): OnnxGraph => ({
    name,
    nodes: [{ opType: 'Constant', inputs: [], outputs: [`${name}_out`], attributes: { value: attr.tensor(f32('', [2], [v, v + 1])) } }],
    inputs: [],
    outputs: [{ name: `${name}_out`, dataType: 'float32', shape: [2] }],
    initializers: [],
  });
  const bytes = model({
    nodes: [
      {
        opType: 'If',
        inputs: ['cond'],
        outputs: ['Y'],
        attributes: { then_branch: attr.graph(branch('then', 1)), else_branch: attr.graph(branch('else', 10)) },
      },
    ],
    inputs: [{ name: 'cond', dataType: 'bool', shape: [] }],
    outputs: [{ name: 'Y', dataType: 'float32', shape: [2] }],
  });
  const session = await cpuSession(bytes);
  const t = await run(session, { cond: { data: Uint8Array.from([1]), dims: [], type: 'bool' } });
  assert.deepEqual(Array.from(t.Y.data as Float32Array), [1, 2]);
  const f = await run(session, { cond: { data: Uint8Array.from([0]), dims: [], type: 'bool' } });
  assert.deepEqual(Array.from(f.Y.data as Float32Array), [10, 11]);
});

test('com.microsoft node gets its opset import automatically', async () => {
  const X = Float32Array.from([-2, -0.5, 0, 0.7, 3]);
  const bytes = model({
    nodes: [{ opType: 'Gelu', domain: 'com.microsoft', inputs: ['X'], outputs: ['Y'] }],
    inputs: [{ name: 'X', dataType: 'float32', shape: [5] }],
    outputs: [{ name: 'Y', dataType: 'float32', shape: [5] }],
  });
  const opsets = parseFields(bytes)
    .filter((f) => f.field === 8)
    .map((f) => parseFields(f.value as Uint8Array));
  assert.deepEqual(
    opsets.map((o) => [utf8(o.find((f) => f.field === 1)?.value ?? new Uint8Array()), o.find((f) => f.field === 2)?.value]),
    [['', 17n], ['com.microsoft', 1n]],
  );
  const session = await cpuSession(bytes);
  const { Y } = await run(session, { X: { data: X, dims: [5] } });
  // erf via Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7).
  const erf = (x: number) => {
    const s = Math.sign(x);
    const a = Math.abs(x);
    const t = 1 / (1 + 0.3275911 * a);
    const p = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
    return s * (1 - p * Math.exp(-a * a));
  };
  assertClose(Y.data as Float32Array, Array.from(X, (x) => 0.5 * x * (1 + erf(x / Math.SQRT2))), 1e-5);
});

test('model with > 2^24 bytes of weights (multi-byte length varints)', async () => {
  const n = (1 << 22) + 1000; // 16.78 MB of float32
  const big = new Float32Array(n);
  for (let i = 0; i < n; i++) big[i] = i % 1000;
  big[n - 1] = 12345;
  const bytes = model({
    nodes: [{ opType: 'Gather', inputs: ['W', 'idx'], outputs: ['Y'], attributes: { axis: attr.int(0) } }],
    inputs: [{ name: 'idx', dataType: 'int64', shape: [3] }],
    outputs: [{ name: 'Y', dataType: 'float32', shape: [3] }],
    initializers: [{ name: 'W', dataType: 'float32', dims: [n], data: big }],
  });
  assert.ok(bytes.length > 2 ** 24);
  // The graph length prefix and raw_data length prefix each need 4 varint bytes here.
  const graph = parseFields(bytes).find((f) => f.field === 7)!.value as Uint8Array;
  const init = parseFields(graph).find((f) => f.field === 5)!.value as Uint8Array;
  const raw = parseFields(init).find((f) => f.field === 9)!.value as Uint8Array;
  assert.equal(raw.length, n * 4);
  assert.equal(varintSize(raw.length), 4);
  const session = await cpuSession(bytes);
  const { Y } = await run(session, { idx: { data: BigInt64Array.from([0n, 1999n, BigInt(n - 1)]), dims: [3] } });
  assert.deepEqual(Array.from(Y.data as Float32Array), [0, 999, 12345]);
});

test('metadata_props, producer and ir_version are encoded (checked by decoding the bytes)', async () => {
  // onnxruntime-node exposes no model-metadata API, so the ModelProto is decoded here instead.
  const bytes = model(
    {
      nodes: [{ opType: 'Identity', inputs: ['X'], outputs: ['Y'] }],
      inputs: [{ name: 'X', dataType: 'float32', shape: [1] }],
      outputs: [{ name: 'Y', dataType: 'float32', shape: [1] }],
    },
    { metadata: { style: 'watercolor', 'lora.rank': '8', unicode: 'ü→✓' }, producerVersion: '0.1.0' },
  );
  const fields = parseFields(bytes);
  assert.equal(fields.find((f) => f.field === 1)?.value, 8n);
  assert.equal(utf8(fields.find((f) => f.field === 2)!.value), 'onnx-writer-test');
  assert.equal(utf8(fields.find((f) => f.field === 3)!.value), '0.1.0');
  const props = fields
    .filter((f) => f.field === 14)
    .map((f) => parseFields(f.value as Uint8Array))
    .map((e) => [utf8(e.find((x) => x.field === 1)!.value), utf8(e.find((x) => x.field === 2)!.value)]);
  assert.deepEqual(Object.fromEntries(props), { style: 'watercolor', 'lora.rank': '8', unicode: 'ü→✓' });
  // The runtime still accepts the model with metadata present.
  const session = await cpuSession(bytes);
  const { Y } = await run(session, { X: { data: Float32Array.from([4]), dims: [1] } });
  assert.deepEqual(Array.from(Y.data as Float32Array), [4]);
});

test('tensor validation rejects mismatched data', () => {
  const g = (t: OnnxTensor): OnnxModel => ({ graph: { name: 'g', nodes: [], inputs: [], outputs: [], initializers: [t] } });
  assert.throws(() => encodeModel(g({ name: 'a', dataType: 'float32', dims: [3], data: new Float32Array(2) })), /need 3 elements/);
  assert.throws(() => encodeModel(g({ name: 'a', dataType: 'int64', dims: [2], data: new Int32Array(2) })), /BigInt64Array/);
  assert.throws(() => encodeModel({ graph: { name: 'g', nodes: [{ opType: 'X', inputs: [], outputs: [], attributes: { k: attr.int(0.5) } }], inputs: [], outputs: [], initializers: [] } }), /not an integer/);
});

test('createSession: provider selection and env defaults', async () => {
  const bytes = model({
    nodes: [{ opType: 'Identity', inputs: ['X'], outputs: ['Y'] }],
    inputs: [{ name: 'X', dataType: 'float32', shape: [1] }],
    outputs: [{ name: 'Y', dataType: 'float32', shape: [1] }],
  });
  const saved = { ep: process.env.ORT_EXECUTION_PROVIDER, th: process.env.ORT_INTRA_OP_THREADS };
  try {
    process.env.ORT_EXECUTION_PROVIDER = 'auto';
    process.env.ORT_INTRA_OP_THREADS = '2';
    const auto = await createSession(bytes);
    assert.equal(auto.executionProvider, isCudaAvailable() ? 'cuda' : 'cpu');
    assert.equal(auto.intraOpThreads, 2);

    process.env.ORT_EXECUTION_PROVIDER = 'gpu';
    await assert.rejects(createSession(bytes), /ORT_EXECUTION_PROVIDER/);
    process.env.ORT_EXECUTION_PROVIDER = 'cpu';
    process.env.ORT_INTRA_OP_THREADS = '0';
    await assert.rejects(createSession(bytes), /ORT_INTRA_OP_THREADS/);

    const explicit = await createSession(bytes, { executionProvider: 'cpu', intraOpThreads: 1, interOpThreads: 1, graphOptimization: 'disabled' });
    assert.equal(explicit.executionProvider, 'cpu');
    assert.equal(explicit.intraOpThreads, 1);
    if (!isCudaAvailable()) {
      await assert.rejects(createSession(bytes, { executionProvider: 'cuda', intraOpThreads: 1 }), /CUDA execution provider requested/);
    }
  } finally {
    for (const [k, v] of [['ORT_EXECUTION_PROVIDER', saved.ep], ['ORT_INTRA_OP_THREADS', saved.th]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});
