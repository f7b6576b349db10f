// Post-processors: add special tokens around an encoded sequence (single sequences only; the image
// models here never encode pairs).
import type { ComponentJson, TemplatePieceJson } from './tokenizer.types';

export interface PostProcessor {
  /** Number of special tokens added to a single sequence (what truncation must leave room for). */
  readonly addedTokens: number;
  process(ids: number[]): number[];
}

const identity: PostProcessor = { addedTokens: 0, process: (ids) => ids };

function wrap(cls: number[], sep: number[]): PostProcessor {
  return { addedTokens: cls.length + sep.length, process: (ids) => [...cls, ...ids, ...sep] };
}

function tokenPairId(value: unknown, field: string): number {
  if (Array.isArray(value) && value.length === 2 && Number.isInteger(value[1])) return value[1] as number;
  throw new Error(`tokenizer: post-processor field "${field}" must be [token, id]`);
}

function template(json: ComponentJson): PostProcessor {
  const special = (json.special_tokens ?? {}) as Record<string, { ids: number[] }>;
  let single = json.single as TemplatePieceJson[] | string | undefined;
  if (typeof single === 'string') {
    // Compact "[CLS] $A [SEP]" form (accepted by the Python bindings).
    single = single
      .split(/\s+/)
      .filter(Boolean)
      .map((p): TemplatePieceJson => (p.startsWith('$') ? { Sequence: { id: 'A', type_id: 0 } } : { SpecialToken: { id: p.split(':')[0], type_id: 0 } }));
  }
  const pieces = single ?? [{ Sequence: { id: 'A', type_id: 0 } }];
  const before: number[] = [];
  const after: number[] = [];
  let seen = false;
  for (const piece of pieces) {
    if (piece.Sequence) {
      if (piece.Sequence.id === 'A') seen = true;
      continue;
    }
    if (piece.SpecialToken) {
      const tok = special[piece.SpecialToken.id];
      if (!tok) throw new Error(`tokenizer: template special token "${piece.SpecialToken.id}" is not defined`);
      (seen ? after : before).push(...tok.ids);
    }
  }
  return wrap(before, after);
}

/** Builds a post-processor from its tokenizer.json entry (null → no special tokens). */
export function createPostProcessor(json: ComponentJson | null | undefined): PostProcessor {
  if (!json) return identity;
  switch (json.type) {
    case 'TemplateProcessing':
      return template(json);
    case 'RobertaProcessing':
    case 'BertProcessing':
      return wrap([tokenPairId(json.cls, 'cls')], [tokenPairId(json.sep, 'sep')]);
    case 'ByteLevel':
      return identity; // only trims offsets, which this engine does not track
    case 'Sequence': {
      const parts = ((json.processors as ComponentJson[]) ?? []).map(createPostProcessor);
      return {
        addedTokens: parts.reduce((n, p) => n + p.addedTokens, 0),
        process: (ids) => parts.reduce((acc, p) => p.process(acc), ids),
      };
    }
    default:
      throw new Error(`tokenizer: post-processor type "${json.type}" is not supported`);
  }
}
