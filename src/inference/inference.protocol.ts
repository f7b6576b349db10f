import type { GenerationRequest, GenerationResult } from '../engine';
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

/** An adapter applied to a generation, by id, with its strength. */
export interface AdapterRef {
  id: string;
  scale: number;
}

/** The engine's request as it crosses to the thread: adapters named by id (the thread holds them parsed). */
export type InferenceRequest = Omit<GenerationRequest, 'adapters'> & { adapters: AdapterRef[] };

/** The engine's result (with the images' width and height) with its images encoded as PNG files, one per image. */
export type InferenceResult = Omit<GenerationResult, 'images'> & { images: Uint8Array[] };

/** One request's result. */
export type GeneratedImages = InferenceResult;

export type InferenceCall =
  | { type: 'acquire'; model: ModelRef; adapters: { id: string; bytes?: Uint8Array }[] }
  | { type: 'release'; model: ModelRef; ids: string[] }
  | { type: 'generate'; model: ModelRef; requests: InferenceRequest[] }
  | { type: 'stats' };

export interface AcquireReply {
  /** Adapters the thread does not hold: send their bytes. */
  missing: string[];
  /** Adapters whose bytes could not be used with this model, with the reason. */
  errors: Record<string, string>;
}

export interface GenerateReply {
  results: InferenceResult[];
}

export type StatsReply = AdapterCacheStats & { pipelines: string[] };

export interface InferenceRequestMessage {
  callId: number;
  call: InferenceCall;
}

export type InferenceReplyMessage =
  | { callId: number; ok: true; value: unknown }
  | { callId: number; ok: false; error: string; kind?: 'model' };
