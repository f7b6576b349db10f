/**
 * ONNX models with their weights in a separate file (TensorProto data_location = EXTERNAL), for
 * graphs whose initializers do not fit a protobuf message (< 2 GiB): SD-1.5's UNet alone is 3.4 GB
 * in float32. Each large initializer's bytes are appended to `<model>.data` as the model is encoded,
 * so no copy of all weights is ever assembled in memory; ONNX Runtime reads them when a session is
 * created from the model's path (locations are relative to the model file's folder).
 */
import * as fs from 'fs';
import * as path from 'path';
import { encodeModel, OnnxModel } from './onnx-model';

export interface ExternalDataOptions {
  /** Initializers smaller than this many bytes stay inside the protobuf (onnx's converter uses 1024 too). */
  sizeThreshold?: number;
  /** Offset alignment of every external tensor: page-aligned data can be memory-mapped. */
  alignment?: number;
  /** Data file name beside the model (default `<model file name>.data`). */
  dataFileName?: string;
}

export interface WrittenOnnxModel {
  modelPath: string;
  /** Null when no initializer was large enough to go outside. */
  dataPath: string | null;
  externalTensors: number;
  externalBytes: number;
}

const DEFAULT_THRESHOLD = 1024;
const DEFAULT_ALIGNMENT = 4096;

/** Writes `model` to `modelPath`, its initializers of at least `sizeThreshold` bytes to one data file beside it. */
export function writeOnnxModel(model: OnnxModel, modelPath: string, opts: ExternalDataOptions = {}): WrittenOnnxModel {
  const threshold = opts.sizeThreshold ?? DEFAULT_THRESHOLD;
  const alignment = opts.alignment ?? DEFAULT_ALIGNMENT;
  const location = opts.dataFileName ?? `${path.basename(modelPath)}.data`;
  if (location.includes('/') || location.includes('\\') || location.startsWith('.')) throw new Error(`data file name must be a plain name, got '${location}'`);
  const dataPath = path.join(path.dirname(modelPath), location);
  fs.mkdirSync(path.dirname(modelPath), { recursive: true });
  const fd = fs.openSync(dataPath, 'w');
  let offset = 0;
  let count = 0;
  let bytesOut = 0;
  let proto: Uint8Array;
  try {
    // Written synchronously as each tensor is encoded, so lazily derived weights are dropped at once.
    proto = encodeModel(model, {
      externalize: (_t, bytes) => {
        if (bytes.byteLength < threshold || bytes.byteLength === 0) return null;
        const start = Math.ceil(offset / alignment) * alignment;
        let written = 0;
        while (written < bytes.byteLength) written += fs.writeSync(fd, bytes, written, bytes.byteLength - written, start + written);
        offset = start + bytes.byteLength;
        count++;
        bytesOut += bytes.byteLength;
        return { location, offset: start, length: bytes.byteLength };
      },
    });
  } finally {
    fs.closeSync(fd);
  }
  if (count === 0) fs.rmSync(dataPath, { force: true });
  fs.writeFileSync(modelPath, proto);
  return { modelPath, dataPath: count > 0 ? dataPath : null, externalTensors: count, externalBytes: bytesOut };
}
