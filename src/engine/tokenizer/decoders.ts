// Decoders: tokens → text (for logs, previews and round-trip checks; the models only consume ids).
import { byteLevelDecode } from './byte-level';
import type { ComponentJson, PatternJson } from './tokenizer.types';
import { compilePattern } from './unicode.util';

/** Transforms a token list; the final text is the concatenation of the result. */
export type Decoder = (tokens: string[]) => string[];

function wordPiece(json: ComponentJson): Decoder {
  const prefix = typeof json.prefix === 'string' ? json.prefix : '##';
  const cleanup = json.cleanup !== false;
  return (tokens) =>
    tokens.map((t, i) => {
      let s = i > 0 && !t.startsWith(prefix) ? ` ${t}` : t.startsWith(prefix) ? t.slice(prefix.length) : t;
      if (cleanup) {
        s = s
          .replace(/ \./g, '.').replace(/ \?/g, '?').replace(/ !/g, '!').replace(/ ,/g, ',')
          .replace(/ ' /g, "'").replace(/ n't/g, "n't").replace(/ 'm/g, "'m").replace(/ do not/g, " don't")
          .replace(/ 's/g, "'s").replace(/ 've/g, "'ve").replace(/ 're/g, "'re");
      }
      return s;
    });
}

/** Builds a decoder from its tokenizer.json entry (null → tokens joined by single spaces). */
export function createDecoder(json: ComponentJson | null | undefined): Decoder {
  if (!json) return (tokens) => tokens.map((t, i) => (i > 0 ? ` ${t}` : t));
  switch (json.type) {
    case 'ByteLevel':
      return (tokens) => [byteLevelDecode(tokens.join(''))];
    case 'BPEDecoder': {
      const suffix = typeof json.suffix === 'string' ? json.suffix : '</w>';
      return (tokens) => tokens.map((t, i) => t.split(suffix).join(i === tokens.length - 1 ? '' : ' '));
    }
    case 'WordPiece':
      return wordPiece(json);
    case 'Metaspace': {
      const replacement = typeof json.replacement === 'string' ? json.replacement : '▁';
      return (tokens) =>
        tokens.map((t, i) => {
          const s = t.split(replacement).join(' ');
          return i === 0 && s.startsWith(' ') ? s.slice(1) : s;
        });
    }
    case 'Replace': {
      const re = compilePattern(json.pattern as PatternJson);
      const content = String(json.content ?? '');
      return (tokens) => tokens.map((t) => t.replace(re, () => content));
    }
    case 'Fuse':
      return (tokens) => [tokens.join('')];
    case 'Strip': {
      const content = String(json.content ?? ' ');
      const start = Number(json.start ?? 0);
      const stop = Number(json.stop ?? 0);
      return (tokens) =>
        tokens.map((t) => {
          const chars = [...t];
          let a = 0;
          let b = chars.length;
          while (a < start && a < b && chars[a] === content) a++;
          while (chars.length - b < stop && b > a && chars[b - 1] === content) b--;
          return chars.slice(a, b).join('');
        });
    }
    case 'ByteFallback':
      return (tokens) => tokens;
    case 'Sequence': {
      const parts = ((json.decoders as ComponentJson[]) ?? []).map(createDecoder);
      return (tokens) => parts.reduce((acc, d) => d(acc), tokens);
    }
    default:
      throw new Error(`tokenizer: decoder type "${json.type}" is not supported`);
  }
}
