/**
 * onnxruntime-node session helpers.
 *
 * The npm package always ships the CPU EP. The CUDA EP (Linux x64, CUDA 12)
 * needs extra provider libraries that the package's install script downloads;
 * on a GPU host install with
 *   ONNXRUNTIME_NODE_INSTALL=cuda12 npm install
 * (or `npm install --onnxruntime-node-install=cuda12`). The repository's
 * .npmrc sets `onnxruntime-node-install=skip`, which only the
 * ONNXRUNTIME_NODE_INSTALL variable or that CLI flag overrides; the deprecated
 * `ONNXRUNTIME_NODE_INSTALL_CUDA=v12` is ignored while that skip is set.
 * Builds without those libraries run on CPU.
 *
 * Environment defaults:
 *   ORT_EXECUTION_PROVIDER  auto | cpu | cuda   (default auto)
 *   ORT_INTRA_OP_THREADS    positive integer    (default os.availableParallelism())
 *   ORT_EXTERNAL_DATA       auto | always | never (default auto: weights past 1 GiB go to a data file)
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { initializerBytes, encodeModel, OnnxModel } from './onnx-model';
import { writeOnnxModel } from './onnx-external-data';

export type ExecutionProviderChoice = 'cpu' | 'cuda' | 'auto';
export type GraphOptimization = 'all' | 'extended' | 'basic' | 'disabled';
/** 'auto': weights go to an external data file when the graph's initializers exceed EXTERNAL_DATA_AUTO_BYTES. */
export type ExternalDataChoice = 'auto' | 'always' | 'never';

/**
 * Above this, a graph's weights are written to a temporary data file beside the model instead of into
 * the protobuf: protobuf messages must stay below 2 GiB, and an in-memory model costs two more copies
 * of the weights (the encoded bytes and ONNX Runtime's parse of them).
 */
export const EXTERNAL_DATA_AUTO_BYTES = 1 << 30;

export interface CreateSessionOptions {
  /** 'auto' uses CUDA when its provider library is installed, else CPU. 'cuda' fails if CUDA cannot be used. */
  executionProvider?: ExecutionProviderChoice;
  intraOpThreads?: number;
  /** Inter-op threads only matter in parallel execution mode, so setting this enables it; omitted = sequential. */
  interOpThreads?: number;
  graphOptimization?: GraphOptimization;
  /** Only for models passed as OnnxModel (bytes are always loaded as they are). */
  externalData?: ExternalDataChoice;
  /**
   * ONNX Runtime's CPU arena (default on) keeps freed blocks and grows by powers of two; off, every
   * tensor is allocated and freed as it goes, which bounds the peak of multi-GB training graphs.
   */
  memoryArena?: boolean;
}

export interface OrtSession {
  session: ort.InferenceSession;
  executionProvider: 'cpu' | 'cuda';
  intraOpThreads: number;
  interOpThreads?: number;
}

function parseProvider(raw: string | undefined): ExecutionProviderChoice {
  const v = (raw ?? '').trim().toLowerCase();
  if (v === '') return 'auto';
  if (v === 'auto' || v === 'cpu' || v === 'cuda') return v;
  throw new Error(`ORT_EXECUTION_PROVIDER must be auto, cpu or cuda; got '${raw}'`);
}

function parseExternalData(raw: string | undefined): ExternalDataChoice {
  const v = (raw ?? '').trim().toLowerCase();
  if (v === '') return 'auto';
  if (v === 'auto' || v === 'always' || v === 'never') return v;
  throw new Error(`ORT_EXTERNAL_DATA must be auto, always or never; got '${raw}'`);
}

function parseThreads(raw: string | undefined, label: string): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${label} must be a positive integer; got '${raw}'`);
  return n;
}

/** Folder holding the native binding and EP libraries for this platform. */
function nativeDir(): string {
  const entry = require.resolve('onnxruntime-node'); // .../onnxruntime-node/dist/index.js
  return path.join(path.dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/**
 * Whether this onnxruntime-node build can load the CUDA EP. listSupportedBackends()
 * reports CUDA as a non-bundled backend even when its library was never
 * downloaded, so the provider library itself is checked too.
 */
export function isCudaAvailable(): boolean {
  const cuda = ort.listSupportedBackends().find((b) => b.name === 'cuda');
  if (!cuda) return false;
  if (cuda.bundled) return true;
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  try {
    return fs.existsSync(path.join(nativeDir(), lib));
  } catch {
    return false;
  }
}

/**
 * A session for encoded model bytes, a model file's path, or a model description. A large model (see `externalData`)
 * goes through a temporary folder holding the model and its external data file; the folder is removed
 * once ONNX Runtime has loaded it.
 */
export async function createSession(model: Uint8Array | OnnxModel | string, opts: CreateSessionOptions = {}): Promise<OrtSession> {
  if (model instanceof Uint8Array || typeof model === 'string') return createSessionFrom(model, opts);
  const choice = opts.externalData ?? parseExternalData(process.env.ORT_EXTERNAL_DATA);
  if (choice === 'never' || (choice === 'auto' && initializerBytes(model) <= EXTERNAL_DATA_AUTO_BYTES)) {
    return createSessionFrom(encodeModel(model), opts);
  }
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'saas-onnx-'));
  try {
    const { modelPath } = writeOnnxModel(model, path.join(dir, 'model.onnx'));
    return await createSessionFrom(modelPath, opts);
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

async function createSessionFrom(modelBytes: Uint8Array | string, opts: CreateSessionOptions): Promise<OrtSession> {
  const choice = opts.executionProvider ?? parseProvider(process.env.ORT_EXECUTION_PROVIDER);
  const intraOpThreads =
    opts.intraOpThreads ?? parseThreads(process.env.ORT_INTRA_OP_THREADS, 'ORT_INTRA_OP_THREADS') ?? os.availableParallelism();
  const interOpThreads = opts.interOpThreads;
  const base: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: intraOpThreads,
    logSeverityLevel: 3,
    graphOptimizationLevel: opts.graphOptimization ?? 'all',
    ...(opts.memoryArena === false ? { enableCpuMemArena: false } : {}),
    ...(interOpThreads !== undefined ? { interOpNumThreads: interOpThreads, executionMode: 'parallel' as const } : {}),
  };

  const cudaInstalled = isCudaAvailable();
  if (choice === 'cuda' && !cudaInstalled) {
    throw new Error(
      'CUDA execution provider requested but this onnxruntime-node build has no CUDA provider library; ' +
        'reinstall it with ONNXRUNTIME_NODE_INSTALL=cuda12 on a CUDA 12 host',
    );
  }
  if (cudaInstalled && choice !== 'cpu') {
    try {
      // CPU stays registered as the fallback for ops the CUDA EP lacks.
      const session = await createInference(modelBytes, { ...base, executionProviders: ['cuda', 'cpu'] });
      return { session, executionProvider: 'cuda', intraOpThreads, interOpThreads };
    } catch (err) {
      if (choice === 'cuda') {
        throw new Error(
          `CUDA execution provider requested but unavailable (${(err as Error).message}); ` +
            'install onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 on a CUDA 12 host',
        );
      }
    }
  }
  const session = await createInference(modelBytes, { ...base, executionProviders: ['cpu'] });
  return { session, executionProvider: 'cpu', intraOpThreads, interOpThreads };
}

function createInference(source: Uint8Array | string, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  return typeof source === 'string' ? ort.InferenceSession.create(source, options) : ort.InferenceSession.create(source, options);
}

export type FeedData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array | Float64Array;
export type FeedType = 'float32' | 'float16' | 'int64' | 'int32' | 'bool' | 'uint8' | 'float64';

export interface TensorValue {
  data: FeedData;
  dims: readonly number[];
  /** Inferred from the array type when omitted; required for float16 (Uint16Array) and bool (Uint8Array). */
  type?: FeedType;
}

function inferType(data: FeedData): FeedType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Uint8Array) return 'uint8';
  throw new Error(`cannot infer tensor type for ${data.constructor.name}; pass 'type'`);
}

/** Runs a session with plain typed-array feeds and returns plain typed-array outputs. */
export async function run(
  session: ort.InferenceSession,
  feeds: Record<string, TensorValue>,
  outputNames?: readonly string[],
): Promise<Record<string, Required<TensorValue>>> {
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, v] of Object.entries(feeds)) {
    ortFeeds[name] = new ort.Tensor(v.type ?? inferType(v.data), v.data, v.dims);
  }
  const results = outputNames ? await session.run(ortFeeds, outputNames) : await session.run(ortFeeds);
  const out: Record<string, Required<TensorValue>> = {};
  for (const [name, t] of Object.entries(results)) {
    out[name] = { data: t.data as FeedData, dims: t.dims, type: t.type as FeedType };
  }
  return out;
}
