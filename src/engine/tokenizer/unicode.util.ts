// Character classes matching the Rust definitions the reference tokenizers use, and pattern compilation.
import type { PatternJson } from './tokenizer.types';

/** Rust `char::is_whitespace` (Unicode White_Space). */
export const isWhitespace = (c: string): boolean => /^\p{White_Space}$/u.test(c);

/** BERT punctuation: any ASCII punctuation (which includes symbols like $ + < = > ^ ` | ~) or Unicode P*. */
export const isBertPunctuation = (c: string): boolean => /^(?:[!-/:-@[-`{-~]|\p{P})$/u.test(c);

/** Rust `char::is_numeric` (Unicode N*). */
export const isNumeric = (c: string): boolean => /^\p{N}$/u.test(c);

/** Rust regex `\w` is Unicode-aware; JavaScript's is ASCII-only even with the u flag. */
export const WORD_CLASS = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}';

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); // only syntax characters: the u flag rejects other escapes
}

/** Compiles a tokenizer.json pattern to a global, Unicode-aware RegExp. */
export function compilePattern(pattern: PatternJson | string): RegExp {
  if (typeof pattern === 'string') return new RegExp(escapeRegExp(pattern), 'gu');
  if ('String' in pattern) return new RegExp(escapeRegExp(pattern.String), 'gu');
  if ('Regex' in pattern) {
    try {
      return new RegExp(pattern.Regex, 'gu');
    } catch (e) {
      throw new Error(`tokenizer: unsupported regular expression ${JSON.stringify(pattern.Regex)}: ${(e as Error).message}`);
    }
  }
  throw new Error(`tokenizer: invalid pattern ${JSON.stringify(pattern)}`);
}
