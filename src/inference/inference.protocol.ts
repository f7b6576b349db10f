import type { SamplerName } from '../engine';
import type { AdapterCacheStats } from './adapter-cache';

/*
 * Messages between the API's event loop and the inference thread. Adapters travel as file bytes
 * once (when the thread does not have them); afterwards requests name them by id.
 */

/** A base model: its id and folder. */
export interface ModelRef {
  name: string;
  dir: string;
}

export interface EngineGenerationRequest {
  prompt: string;
  negativePrompt?: string;
  adapters: { id: string; scale: number }[];
  seed: number;
  steps: number;
  guidanceScale: number;
  scheduler: SamplerName;
  numImages: number;
}

export interface EngineGenerationResult {
  seed: number;
  /** PNG files, one per image. */
  images: Uint8Array[];
}

export type InferenceCall =
  | { type: 'acquire'; model: ModelRef; adapters: { id: string; bytes?: Uint8Array }[] }
  | { type: 'release'; model: ModelRef; ids: string[] }
  | { type: 'generate'; model: ModelRef; requests: EngineGenerationRequest[] }
  | { type: 'stats' };

export interface AcquireReply {
  /** Adapters the thread does not hold: send their bytes. */
  missing: string[];
  /** Adapters whose bytes could not be used with this model, with the reason. */
  errors: Record<string, string>;
}

export interface GenerateReply {
  imageSize: number;
  results: EngineGenerationResult[];
}

export type StatsReply = AdapterCacheStats & { pipelines: string[] };

export interface InferenceRequestMessage {
  callId: number;
  call: InferenceCall;
}

export type InferenceReplyMessage =
  | { callId: number; ok: true; value: unknown }
  | { callId: number; ok: false; error: string; kind?: 'model' };
