// Pre-tokenizers of the tokenizers JSON format: normalized text → words the model sees separately.
// Splitting follows the reference semantics: the input is cut into alternating matched/unmatched
// segments (each matching character is its own segment for character predicates, each regex match
// one segment), `invert` swaps which segments count as delimiters, and the behaviour decides what
// happens to delimiters. Empty pieces are dropped.
import { byteLevelEncode } from './byte-level';
import type { ComponentJson, PatternJson, SplitBehavior } from './tokenizer.types';
import { compilePattern, isBertPunctuation, isNumeric, isWhitespace, WORD_CLASS } from './unicode.util';

export type PreTokenizer = (text: string) => string[];

interface Segment {
  text: string;
  isMatch: boolean;
}

function regexSegments(text: string, re: RegExp): Segment[] {
  const out: Segment[] = [];
  let prev = 0;
  re.lastIndex = 0;
  for (const m of text.matchAll(re)) {
    if (m[0].length === 0) continue;
    const start = m.index!;
    if (start > prev) out.push({ text: text.slice(prev, start), isMatch: false });
    out.push({ text: m[0], isMatch: true });
    prev = start + m[0].length;
  }
  if (prev < text.length) out.push({ text: text.slice(prev), isMatch: false });
  return out;
}

function charSegments(text: string, pred: (c: string) => boolean): Segment[] {
  const out: Segment[] = [];
  let gap = '';
  for (const c of text) {
    if (pred(c)) {
      if (gap) out.push({ text: gap, isMatch: false });
      gap = '';
      out.push({ text: c, isMatch: true });
    } else {
      gap += c;
    }
  }
  if (gap) out.push({ text: gap, isMatch: false });
  return out;
}

/** Applies a delimiter behaviour to segments (isMatch = "is a delimiter"). */
export function applySplitBehavior(segments: Segment[], behavior: SplitBehavior): string[] {
  const pieces: string[] = [];
  switch (behavior) {
    case 'Removed':
      for (const s of segments) if (!s.isMatch) pieces.push(s.text);
      break;
    case 'Isolated':
      for (const s of segments) pieces.push(s.text);
      break;
    case 'MergedWithPrevious': {
      let previousMatch = false;
      for (const s of segments) {
        if (s.isMatch && !previousMatch && pieces.length > 0) pieces[pieces.length - 1] += s.text;
        else pieces.push(s.text);
        previousMatch = s.isMatch;
      }
      break;
    }
    case 'MergedWithNext': {
      let previousMatch = false;
      const rev: string[] = [];
      for (let i = segments.length - 1; i >= 0; i--) {
        const s = segments[i];
        if (s.isMatch && !previousMatch && rev.length > 0) rev[rev.length - 1] = s.text + rev[rev.length - 1];
        else rev.push(s.text);
        previousMatch = s.isMatch;
      }
      pieces.push(...rev.reverse());
      break;
    }
    case 'Contiguous': {
      let previousMatch: boolean | null = null;
      for (const s of segments) {
        if (s.isMatch === previousMatch && pieces.length > 0) pieces[pieces.length - 1] += s.text;
        else pieces.push(s.text);
        previousMatch = s.isMatch;
      }
      break;
    }
    default:
      throw new Error(`tokenizer: split behaviour "${behavior as string}" is not supported`);
  }
  return pieces.filter((p) => p.length > 0);
}

const invert = (segments: Segment[]): Segment[] => segments.map((s) => ({ text: s.text, isMatch: !s.isMatch }));

const WHITESPACE_RE = new RegExp(`[${WORD_CLASS}]+|[^${WORD_CLASS}\\p{White_Space}]+`, 'gu');
const GPT2_RE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

function normalizeBehavior(b: unknown, fallback: SplitBehavior): SplitBehavior {
  if (typeof b !== 'string') return fallback;
  // Python bindings accept lower-case names ("removed"); the JSON form is capitalised.
  const names: SplitBehavior[] = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];
  const found = names.find((n) => n.toLowerCase() === b.toLowerCase().replace(/_/g, ''));
  if (!found) throw new Error(`tokenizer: split behaviour "${b}" is not supported`);
  return found;
}

function byteLevel(json: ComponentJson): PreTokenizer {
  const addPrefixSpace = json.add_prefix_space === true;
  const useRegex = json.use_regex !== false; // absent means true, as in the reference
  return (text) => {
    const s = addPrefixSpace && !text.startsWith(' ') ? ` ${text}` : text;
    const pieces = useRegex ? applySplitBehavior(regexSegments(s, GPT2_RE), 'Isolated') : s.length > 0 ? [s] : [];
    return pieces.map(byteLevelEncode);
  };
}

function metaspace(json: ComponentJson): PreTokenizer {
  const replacement = typeof json.replacement === 'string' ? json.replacement : '▁';
  const scheme = typeof json.prepend_scheme === 'string' ? json.prepend_scheme : json.add_prefix_space === false ? 'never' : 'always';
  const split = json.split !== false;
  return (text) => {
    let s = text.replace(/ /g, replacement);
    if (scheme !== 'never' && !s.startsWith(replacement)) s = replacement + s;
    if (!split) return s ? [s] : [];
    return applySplitBehavior(charSegments(s, (c) => c === replacement), 'MergedWithNext');
  };
}

/** Builds a pre-tokenizer from its tokenizer.json entry (null → the whole text is one word). */
export function createPreTokenizer(json: ComponentJson | null | undefined): PreTokenizer {
  if (!json) return (s) => (s.length > 0 ? [s] : []);
  switch (json.type) {
    case 'Sequence': {
      const parts = ((json.pretokenizers as ComponentJson[]) ?? []).map(createPreTokenizer);
      return (s) => parts.reduce<string[]>((words, p) => words.flatMap(p), s.length > 0 ? [s] : []);
    }
    case 'Whitespace':
      return (s) => applySplitBehavior(invert(regexSegments(s, WHITESPACE_RE)), 'Removed');
    case 'WhitespaceSplit':
      return (s) => applySplitBehavior(charSegments(s, isWhitespace), 'Removed');
    case 'BertPreTokenizer':
      return (s) =>
        applySplitBehavior(charSegments(s, isWhitespace), 'Removed').flatMap((w) => applySplitBehavior(charSegments(w, isBertPunctuation), 'Isolated'));
    case 'Punctuation': {
      const behavior = normalizeBehavior(json.behavior, 'Isolated');
      return (s) => applySplitBehavior(charSegments(s, isBertPunctuation), behavior);
    }
    case 'Digits': {
      const behavior: SplitBehavior = json.individual_digits === true ? 'Isolated' : 'Contiguous';
      return (s) => applySplitBehavior(charSegments(s, isNumeric), behavior);
    }
    case 'Split': {
      const re = compilePattern(json.pattern as PatternJson);
      const behavior = normalizeBehavior(json.behavior, 'Removed');
      const inv = json.invert === true;
      return (s) => {
        const segs = regexSegments(s, re);
        return applySplitBehavior(inv ? invert(segs) : segs, behavior);
      };
    }
    case 'ByteLevel':
      return byteLevel(json);
    case 'Metaspace':
      return metaspace(json);
    default:
      throw new Error(`tokenizer: pre-tokenizer type "${json.type}" is not supported`);
  }
}
