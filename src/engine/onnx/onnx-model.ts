/**
 * Plain TypeScript description of an ONNX model and its protobuf encoding
 * (the ModelProto subset the engine needs). Field numbers follow onnx.proto3.
 */
import * as os from 'os';
import { ProtoWriter } from './protobuf-writer';

export type OnnxDataType = 'float32' | 'float16' | 'int64' | 'int32' | 'bool';

/** Element storage per data type: float16 holds IEEE half bits, bool one byte (0/1) per element. */
export type OnnxTensorData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

export interface OnnxTensor {
  /** May be empty for tensors used as attribute values (e.g. Constant). */
  name: string;
  dataType: OnnxDataType;
  dims: number[];
  /**
   * Written verbatim as little-endian raw_data. A function is called once, when the tensor is
   * encoded: derived weights (transposed copies) then exist only while they are being written.
   */
  data: OnnxTensorData | (() => OnnxTensorData);
}

/** Where an initializer's bytes went when they are stored outside the protobuf (TensorProto external_data). */
export interface ExternalDataRef {
  /** File name relative to the model file's folder. */
  location: string;
  offset: number;
  length: number;
}

export interface EncodeOptions {
  /**
   * Called for every graph initializer with its bytes; returning a reference stores the tensor as
   * data_location = EXTERNAL (the callee has written the bytes), null keeps it in raw_data.
   */
  externalize?: (t: OnnxTensor, bytes: Uint8Array) => ExternalDataRef | null;
}

export type OnnxAttribute =
  | { type: 'int'; value: number | bigint }
  | { type: 'float'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: OnnxTensor }
  | { type: 'graph'; value: OnnxGraph }
  | { type: 'ints'; value: readonly (number | bigint)[] }
  | { type: 'floats'; value: readonly number[] }
  | { type: 'strings'; value: readonly string[] };

/** Shorthand constructors, so call sites never guess whether `1` meant int or float. */
export const attr = {
  int: (value: number | bigint): OnnxAttribute => ({ type: 'int', value }),
  float: (value: number): OnnxAttribute => ({ type: 'float', value }),
  string: (value: string): OnnxAttribute => ({ type: 'string', value }),
  tensor: (value: OnnxTensor): OnnxAttribute => ({ type: 'tensor', value }),
  graph: (value: OnnxGraph): OnnxAttribute => ({ type: 'graph', value }),
  ints: (value: readonly (number | bigint)[]): OnnxAttribute => ({ type: 'ints', value }),
  floats: (value: readonly number[]): OnnxAttribute => ({ type: 'floats', value }),
  strings: (value: readonly string[]): OnnxAttribute => ({ type: 'strings', value }),
};

export interface OnnxNode {
  opType: string;
  /** Use '' for an omitted optional input that precedes a supplied one. */
  inputs: string[];
  outputs: string[];
  name?: string;
  /** '' / undefined = default ONNX domain; e.g. 'com.microsoft' for contrib ops. */
  domain?: string;
  attributes?: Record<string, OnnxAttribute>;
}

export interface OnnxValueInfo {
  name: string;
  dataType: OnnxDataType;
  /**
   * number = fixed dim, string = symbolic dim_param, null = unknown dim.
   * Omit the whole shape for a tensor of unknown rank.
   */
  shape?: (number | string | null)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  initializers: OnnxTensor[];
  /** Optional type/shape hints for intermediate values. */
  valueInfo?: OnnxValueInfo[];
}

export interface OnnxOpsetImport {
  domain: string;
  version: number;
}

export interface OnnxModel {
  graph: OnnxGraph;
  /** Default-domain opset; 17 when omitted. */
  opsetVersion?: number;
  /** Further opset imports. 'com.microsoft' v1 is added automatically when a node uses that domain. */
  extraOpsets?: OnnxOpsetImport[];
  producerName?: string;
  producerVersion?: string;
  /** 8 when omitted (the IR version matching opset 17). */
  irVersion?: number;
  /** Stored as ModelProto.metadata_props. */
  metadata?: Record<string, string>;
}

export const DEFAULT_OPSET_VERSION = 17;
export const DEFAULT_IR_VERSION = 8;

/** Bytes per element of each data type. */
export const ONNX_ELEMENT_BYTES: Readonly<Record<OnnxDataType, number>> = { float32: 4, int32: 4, int64: 8, bool: 1, float16: 2 };

/** Size of a tensor's raw data, computed from its dims (lazy data is not materialised). */
export function tensorByteLength(t: Pick<OnnxTensor, 'dataType' | 'dims'>): number {
  return t.dims.reduce((n, d) => n * d, 1) * ONNX_ELEMENT_BYTES[t.dataType];
}

/** Bytes of all graph initializers: what decides whether a model fits a 2 GiB protobuf. */
export function initializerBytes(model: OnnxModel): number {
  return model.graph.initializers.reduce((n, t) => n + tensorByteLength(t), 0);
}

/** TensorProto.DataType codes. */
export const ONNX_DATA_TYPE_CODE: Readonly<Record<OnnxDataType, number>> = {
  float32: 1,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
};

const EXPECTED_ARRAY: Readonly<Record<OnnxDataType, string>> = {
  float32: 'Float32Array',
  float16: 'Uint16Array',
  int64: 'BigInt64Array',
  int32: 'Int32Array',
  bool: 'Uint8Array',
};

const ARRAY_MATCHES: Readonly<Record<OnnxDataType, (d: OnnxTensorData) => boolean>> = {
  float32: (d) => d instanceof Float32Array,
  float16: (d) => d instanceof Uint16Array,
  int64: (d) => d instanceof BigInt64Array,
  int32: (d) => d instanceof Int32Array,
  bool: (d) => d instanceof Uint8Array,
};

/** AttributeProto.AttributeType codes. */
const ATTR_TYPE = { float: 1, int: 2, string: 3, tensor: 4, graph: 5, floats: 6, ints: 7, strings: 8 } as const;

// raw_data must be little-endian; typed arrays use host order, so refuse rather than emit a corrupt model.
const HOST_IS_LE = os.endianness() === 'LE';

function encodeTensor(t: OnnxTensor, externalize?: EncodeOptions['externalize']): ProtoWriter {
  const code = ONNX_DATA_TYPE_CODE[t.dataType];
  if (code === undefined) throw new Error(`tensor '${t.name}': unsupported data type '${t.dataType}'`);
  const data = typeof t.data === 'function' ? t.data() : t.data;
  if (!ARRAY_MATCHES[t.dataType](data)) {
    throw new Error(`tensor '${t.name}': ${t.dataType} data must be a ${EXPECTED_ARRAY[t.dataType]}, got ${data.constructor.name}`);
  }
  let count = 1;
  for (const d of t.dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`tensor '${t.name}': bad dim ${d}`);
    count *= d;
  }
  if (count !== data.length) {
    throw new Error(`tensor '${t.name}': dims [${t.dims.join(',')}] need ${count} elements, data has ${data.length}`);
  }
  if (!HOST_IS_LE) throw new Error('ONNX raw_data encoding requires a little-endian host');
  const w = new ProtoWriter();
  w.packedInt64(1, t.dims); // dims
  w.int(2, code); // data_type
  if (t.name) w.string(8, t.name); // name
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const ref = externalize?.(t, bytes) ?? null;
  if (ref) {
    // external_data entries (StringStringEntryProto key/value), then data_location = EXTERNAL.
    for (const [key, value] of [['location', ref.location], ['offset', String(ref.offset)], ['length', String(ref.length)]]) {
      w.message(13, new ProtoWriter().string(1, key).string(2, value));
    }
    w.int(14, 1);
  } else {
    // raw_data: a view over the caller's buffer, copied once by finish().
    w.bytes(9, bytes);
  }
  return w;
}

function checkInt(name: string, v: number | bigint): number | bigint {
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new Error(`attribute '${name}': ${v} is not an integer`);
  return v;
}

function encodeAttribute(name: string, a: OnnxAttribute): ProtoWriter {
  const w = new ProtoWriter();
  w.string(1, name); // name
  w.int(20, ATTR_TYPE[a.type]); // type
  switch (a.type) {
    case 'float':
      w.float(2, a.value);
      break;
    case 'int':
      w.int(3, checkInt(name, a.value));
      break;
    case 'string':
      w.string(4, a.value);
      break;
    case 'tensor':
      w.message(5, encodeTensor(a.value));
      break;
    case 'graph':
      w.message(6, encodeGraph(a.value));
      break;
    case 'floats':
      w.packedFloat(7, a.value);
      break;
    case 'ints':
      w.packedInt64(8, a.value.map((v) => checkInt(name, v)));
      break;
    case 'strings':
      for (const s of a.value) w.string(9, s);
      break;
    default: {
      const never: never = a;
      throw new Error(`attribute '${name}': unknown attribute ${JSON.stringify(never)}`);
    }
  }
  return w;
}

function encodeNode(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  // Repeated strings are always written, so '' placeholders for skipped optional inputs survive.
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  if (n.attributes) {
    for (const [k, v] of Object.entries(n.attributes)) w.message(5, encodeAttribute(k, v));
  }
  if (n.domain) w.string(7, n.domain);
  return w;
}

function encodeValueInfo(v: OnnxValueInfo): ProtoWriter {
  const tensorType = new ProtoWriter();
  tensorType.int(1, ONNX_DATA_TYPE_CODE[v.dataType]); // elem_type
  if (v.shape) {
    const shape = new ProtoWriter();
    for (const d of v.shape) {
      const dim = new ProtoWriter();
      // Dimension is a oneof, so dim_value 0 is written explicitly; null leaves the dim unknown.
      if (typeof d === 'number') {
        if (!Number.isSafeInteger(d) || d < 0) throw new Error(`value '${v.name}': bad dim ${d}`);
        dim.int(1, d);
      } else if (typeof d === 'string') {
        dim.string(2, d);
      }
      shape.message(1, dim);
    }
    tensorType.message(2, shape);
  }
  const type = new ProtoWriter().message(1, tensorType); // TypeProto.tensor_type
  const w = new ProtoWriter();
  w.string(1, v.name);
  w.message(2, type);
  return w;
}

function encodeGraph(g: OnnxGraph, opts: EncodeOptions = {}): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.message(1, encodeNode(n));
  w.string(2, g.name);
  for (const t of g.initializers) {
    if (!t.name) throw new Error('graph initializers need a name');
    w.message(5, encodeTensor(t, opts.externalize));
  }
  for (const i of g.inputs) w.message(11, encodeValueInfo(i));
  for (const o of g.outputs) w.message(12, encodeValueInfo(o));
  for (const v of g.valueInfo ?? []) w.message(13, encodeValueInfo(v));
  return w;
}

function usesDomain(g: OnnxGraph, domain: string): boolean {
  for (const n of g.nodes) {
    if ((n.domain ?? '') === domain) return true;
    for (const a of Object.values(n.attributes ?? {})) {
      if (a.type === 'graph' && usesDomain(a.value, domain)) return true;
    }
  }
  return false;
}

function opsetImports(model: OnnxModel): OnnxOpsetImport[] {
  const list: OnnxOpsetImport[] = [{ domain: '', version: model.opsetVersion ?? DEFAULT_OPSET_VERSION }];
  for (const o of model.extraOpsets ?? []) {
    if (list.some((x) => x.domain === o.domain)) throw new Error(`duplicate opset import for domain '${o.domain}'`);
    list.push(o);
  }
  if (!list.some((x) => x.domain === 'com.microsoft') && usesDomain(model.graph, 'com.microsoft')) {
    list.push({ domain: 'com.microsoft', version: 1 });
  }
  return list;
}

/**
 * Serializes a model to ONNX protobuf bytes, ready for `InferenceSession.create`. With
 * `externalize`, initializers may be stored outside (see ./onnx-external-data.ts).
 */
export function encodeModel(model: OnnxModel, opts: EncodeOptions = {}): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, model.irVersion ?? DEFAULT_IR_VERSION); // ir_version
  if (model.producerName) w.string(2, model.producerName);
  if (model.producerVersion) w.string(3, model.producerVersion);
  w.message(7, encodeGraph(model.graph, opts)); // graph
  for (const o of opsetImports(model)) {
    const op = new ProtoWriter();
    if (o.domain) op.string(1, o.domain);
    op.int(2, o.version);
    w.message(8, op); // opset_import
  }
  for (const [key, value] of Object.entries(model.metadata ?? {})) {
    w.message(14, new ProtoWriter().string(1, key).string(2, value)); // metadata_props
  }
  return w.finish();
}
