// Normalizers of the tokenizers JSON format: text → text before pre-tokenization.
import type { ComponentJson, PatternJson } from './tokenizer.types';
import { compilePattern, isWhitespace } from './unicode.util';

export type Normalizer = (text: string) => string;

const identity: Normalizer = (s) => s;

function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

const stripAccents: Normalizer = (s) => s.replace(/\p{M}/gu, '');

function bertNormalizer(json: ComponentJson): Normalizer {
  const cleanText = json.clean_text !== false;
  const chinese = json.handle_chinese_chars !== false;
  const lowercase = json.lowercase !== false;
  // null strip_accents follows lowercase, as in BERT.
  const strip = json.strip_accents === null || json.strip_accents === undefined ? lowercase : json.strip_accents === true;
  return (text) => {
    let out = '';
    for (const c of text) {
      const cp = c.codePointAt(0)!;
      if (cleanText) {
        if (cp === 0 || cp === 0xfffd) continue;
        if (c === '\t' || c === '\n' || c === '\r' || isWhitespace(c)) {
          out += ' ';
          continue;
        }
        if (/^\p{C}$/u.test(c)) continue;
      }
      out += chinese && isChineseChar(cp) ? ` ${c} ` : c;
    }
    if (strip) out = stripAccents(out.normalize('NFD'));
    if (lowercase) out = out.toLowerCase();
    return out;
  };
}

/** Builds a normalizer from its tokenizer.json entry (null → identity). */
export function createNormalizer(json: ComponentJson | null | undefined): Normalizer {
  if (!json) return identity;
  switch (json.type) {
    case 'Sequence': {
      const parts = ((json.normalizers as ComponentJson[]) ?? []).map(createNormalizer);
      return (s) => parts.reduce((acc, n) => n(acc), s);
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = json.type;
      return (s) => s.normalize(form);
    }
    case 'Lowercase':
      return (s) => s.toLowerCase();
    case 'StripAccents':
      return stripAccents;
    case 'Strip': {
      const left = json.strip_left !== false;
      const right = json.strip_right !== false;
      return (s) => {
        const chars = [...s];
        let a = 0;
        let b = chars.length;
        if (left) while (a < b && isWhitespace(chars[a])) a++;
        if (right) while (b > a && isWhitespace(chars[b - 1])) b--;
        return chars.slice(a, b).join('');
      };
    }
    case 'Replace': {
      const re = compilePattern(json.pattern as PatternJson);
      const content = String(json.content ?? '');
      return (s) => s.replace(re, () => content);
    }
    case 'Prepend': {
      const prefix = String(json.prepend ?? '');
      return (s) => (s.length > 0 ? prefix + s : s);
    }
    case 'BertNormalizer':
      return bertNormalizer(json);
    default:
      throw new Error(`tokenizer: normalizer type "${json.type}" is not supported`);
  }
}
