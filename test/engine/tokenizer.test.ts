import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BYTE_TO_CHAR, byteLevelDecode, byteLevelEncode } from '../../src/engine/tokenizer/byte-level';
import { createPreTokenizer } from '../../src/engine/tokenizer/pre-tokenizers';
import { Tokenizer } from '../../src/engine/tokenizer/tokenizer';
import { loadTokenizer, tokenizerFromSources } from '../../src/engine/tokenizer/tokenizer.loader';
import { buildVocabulary, buildWordLevelTokenizer, writeTokenizerFiles, wordLevelWords } from '../../src/engine/tokenizer/word-level.tokenizer';
import { parseMergesTxt } from '../../src/engine/tokenizer/clip-bpe.tokenizer';
import type { TokenizerJson } from '../../src/engine/tokenizer/tokenizer.types';

async function tmpDir(): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), 'saas-tok-'));
}

// ---- a tiny CLIP-style tokenizer.json, built by hand -----------------------------------------------
// Byte-level spellings used below: "é" is UTF-8 C3 A9 → "Ã©"; "😀" is F0 9F 98 80 → "ðŁĺĢ"
// (bytes 0x80..0xA0 map to U+0122..U+0142 after the 33 control/space bytes and DEL).
const VOCAB_TOKENS = [
  'h', 'e', 'l', 'o', 'w', 'r', 'd', 'c', 'a', 'f', 'i', "'", 'Ã',
  'o</w>', 'd</w>', 'l</w>', '!</w>', 's</w>', 't</w>', '©</w>', '4</w>', '2</w>',
  'ð', 'Ł', 'ĺ', 'Ģ</w>',
  'he', 'll', 'lo</w>', 'hell', 'hello</w>', 'wo', 'rl', 'rld</w>', 'world</w>',
  'Ã©</w>', 'ca', 'fÃ©</w>', 'cafÃ©</w>', "'s</w>",
  '<|startoftext|>', '<|endoftext|>',
];
const MERGES = [
  'h e', // 0
  'l l', // 1
  'l o</w>', // 2
  'he ll', // 3
  'hell o</w>', // 4
  'w o', // 5
  'r l', // 6
  'rl d</w>', // 7
  'wo rld</w>', // 8
  'Ã ©</w>', // 9
  'c a', // 10
  'f Ã©</w>', // 11
  'ca fÃ©</w>', // 12
  "' s</w>", // 13
];
const VOCAB: Record<string, number> = Object.fromEntries(VOCAB_TOKENS.map((t, i) => [t, i]));
const id = (t: string): number => {
  assert.ok(t in VOCAB, `test vocabulary lacks ${t}`);
  return VOCAB[t];
};
const BOS = id('<|startoftext|>');
const EOS = id('<|endoftext|>');

function clipJson(merges: Array<string | [string, string]> = MERGES): TokenizerJson {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: BOS, content: '<|startoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
      { id: EOS, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
    ],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: { Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" },
          behavior: 'Removed',
          invert: true,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true }, // use_regex absent → true
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: ['<|endoftext|>', EOS], cls: ['<|startoftext|>', BOS], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<|endoftext|>',
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      vocab: VOCAB,
      merges,
    },
  };
}

const CLIP_CONFIG = { tokenizer_class: 'CLIPTokenizer', model_max_length: 77, pad_token: '<|endoftext|>', bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' };

function clip(): Tokenizer {
  return tokenizerFromSources({ tokenizerJson: clipJson(), tokenizerConfig: CLIP_CONFIG });
}

test('byte-level alphabet', () => {
  assert.equal(BYTE_TO_CHAR[0x20], 'Ġ');
  assert.equal(BYTE_TO_CHAR[0x0a], 'Ċ');
  assert.equal(BYTE_TO_CHAR[0x21], '!');
  assert.equal(BYTE_TO_CHAR[0xad], 'Ń'); // the soft hyphen is the last remapped byte: U+0100 + 67
  assert.equal(new Set(BYTE_TO_CHAR).size, 256);
  assert.equal(byteLevelEncode('é'), 'Ã©');
  assert.equal(byteLevelEncode('😀'), 'ðŁĺĢ');
  assert.equal(byteLevelDecode('ðŁĺĢ Ã©'), '😀 é');
});

test('CLIP BPE: merges applied by rank, </w> suffix, leftmost ties', () => {
  const tok = clip();
  assert.deepEqual(tok.encode('hello'), [BOS, id('hello</w>'), EOS]);
  assert.deepEqual(tok.encode('hello world'), [BOS, id('hello</w>'), id('world</w>'), EOS]);
  // "l l" (rank 1) beats the overlapping "l o</w>" (rank 2).
  assert.deepEqual(tok.tokenize('llo'), ['ll', 'o</w>']);
  assert.deepEqual(tok.tokenize('lo'), ['lo</w>']);
  // Equal ranks: leftmost first, then "l o</w>" can still apply on the right.
  assert.deepEqual(tok.tokenize('lllo'), ['ll', 'lo</w>']);
  // The suffix marks word ends only: "l" inside a word and "l</w>" at the end are different tokens.
  assert.deepEqual(tok.tokenize('hel'), ['he', 'l</w>']);
  // Characters missing from the vocabulary become the unknown token (<|endoftext|> for CLIP).
  assert.deepEqual(tok.encode('hex'), [BOS, id('he'), EOS, EOS]);
  // Merges given as ["a", "b"] pairs (newer tokenizer.json files) mean the same.
  const pairs = new Tokenizer(clipJson(MERGES.map((m) => m.split(' ') as [string, string])));
  assert.deepEqual(pairs.encode('hello world'), tok.encode('hello world'));
});

test('CLIP BPE: normalisation, splitting and byte-level mapping', () => {
  const tok = clip();
  // Lower-casing and whitespace runs (tabs, newlines) collapse; punctuation is its own word.
  assert.deepEqual(tok.encode('  HELLO \t\n  World!  '), [BOS, id('hello</w>'), id('world</w>'), id('!</w>'), EOS]);
  // NFC composes e + U+0301 into é; é is two bytes, each its own byte-level character.
  const cafe = [BOS, id('cafÃ©</w>'), EOS];
  assert.deepEqual(tok.encode('Café'), cafe);
  assert.deepEqual(tok.encode('cafe\u0301'), cafe);
  // An emoji is a non-letter run; its four UTF-8 bytes map outside ASCII.
  assert.deepEqual(tok.tokenize('😀'), ['ð', 'Ł', 'ĺ', 'Ģ</w>']);
  // Digits split one by one; contractions split off.
  assert.deepEqual(tok.tokenize('42'), ['4</w>', '2</w>']);
  assert.deepEqual(tok.tokenize("it's"), ['i', 't</w>', "'s</w>"]);
  // Special tokens typed in the text are recognised (after normalisation, as they are "normalized").
  assert.deepEqual(tok.encode('hello<|endoftext|>world'), [BOS, id('hello</w>'), EOS, id('world</w>'), EOS]);
  assert.deepEqual(tok.encode('<|ENDOFTEXT|>'), [BOS, EOS, EOS]);
  assert.equal(tok.decode(tok.encode('Hello café world!'), { skipSpecialTokens: true }), 'hello café world !');
});

test('CLIP BPE: batch padding with <|endoftext|> and truncation that keeps EOS last', () => {
  const tok = clip();
  assert.equal(tok.padTokenId, EOS);
  assert.equal(tok.modelMaxLength, 77);
  const H = id('hello</w>');
  const W = id('world</w>');
  const batch = tok.encodeBatch(['hello world', 'hello hello hello hello hello', ''], { maxLength: 6 });
  assert.equal(batch.sequenceLength, 6);
  assert.deepEqual([...batch.inputIds], [BOS, H, W, EOS, EOS, EOS, BOS, H, H, H, H, EOS, BOS, EOS, EOS, EOS, EOS, EOS]);
  assert.deepEqual([...batch.attentionMask], [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
  assert.deepEqual(batch.lengths, [4, 6, 2]);
  assert.ok(batch.inputIds instanceof Int32Array);

  const full = tok.encodeBatch(['hello'], { dtype: 'int64' }); // model_max_length 77
  assert.ok(full.inputIds instanceof BigInt64Array);
  assert.equal(full.inputIds.length, 77);
  assert.deepEqual([...full.inputIds.slice(0, 4)], [BigInt(BOS), BigInt(H), BigInt(EOS), BigInt(EOS)]);
  assert.equal(full.attentionMask.reduce((a, b) => a + b, 0n), 3n);

  const longest = tok.encodeBatch(['hello', 'hello world'], { padding: 'longest' });
  assert.equal(longest.sequenceLength, 4);
  assert.throws(() => tok.encodeBatch(['hello hello hello'], { maxLength: 4, truncation: false }), /exceeds/);
  assert.deepEqual(tok.encode('hello world', { truncation: true, maxLength: 3 }), [BOS, H, EOS]);
});

test('loads CLIP from a model folder: tokenizer.json, or vocab.json + merges.txt', async () => {
  const root = await tmpDir();
  try {
    const fast = path.join(root, 'fast', 'tokenizer');
    await fsp.mkdir(fast, { recursive: true });
    await fsp.writeFile(path.join(fast, 'tokenizer.json'), JSON.stringify(clipJson()));
    await fsp.writeFile(path.join(fast, 'tokenizer_config.json'), JSON.stringify({ ...CLIP_CONFIG, bos_token: { __type: 'AddedToken', content: '<|startoftext|>' } }));
    const slow = path.join(root, 'slow', 'tokenizer');
    await fsp.mkdir(slow, { recursive: true });
    await fsp.writeFile(path.join(slow, 'vocab.json'), JSON.stringify(VOCAB));
    await fsp.writeFile(path.join(slow, 'merges.txt'), `#version: 0.2\n${MERGES.join('\n')}\n`);
    await fsp.writeFile(path.join(slow, 'special_tokens_map.json'), JSON.stringify({ pad_token: '<|endoftext|>' }));

    const a = await loadTokenizer(path.join(root, 'fast')); // the model folder: finds tokenizer/
    const b = await loadTokenizer(slow); // the tokenizer folder itself
    assert.equal(a.bosToken, '<|startoftext|>');
    const texts = ['A photo of a Café!', 'hello   WORLD', "it's 42 😀", 'hex'];
    for (const t of texts) assert.deepEqual(b.encode(t), a.encode(t), t);
    assert.deepEqual([...b.encodeBatch(texts, { maxLength: 8 }).inputIds], [...a.encodeBatch(texts, { maxLength: 8 }).inputIds]);
    assert.equal(b.padTokenId, EOS);
  } finally {
    await fsp.rm(root, { recursive: true, force: true });
  }
  assert.deepEqual(parseMergesTxt('#version: 0.2\na b\nc  d\n', 1), ['a b']);
});

test('reference pre-tokenizer behaviour', () => {
  const pre = (json: object, text: string) => createPreTokenizer(json as never)(text);
  assert.deepEqual(pre({ type: 'Whitespace' }, 'Hey man!'), ['Hey', 'man', '!']);
  assert.deepEqual(pre({ type: 'Whitespace' }, 'How are you doing?'), ['How', 'are', 'you', 'doing', '?']);
  assert.deepEqual(pre({ type: 'Whitespace' }, 'naïve café'), ['naïve', 'café']); // \w is Unicode-aware
  assert.deepEqual(pre({ type: 'WhitespaceSplit' }, 'Hey, man, Good?'), ['Hey,', 'man,', 'Good?']);
  assert.deepEqual(pre({ type: 'BertPreTokenizer' }, 'Hey friend!     How are you?!?'), ['Hey', 'friend', '!', 'How', 'are', 'you', '?', '!', '?']);
  assert.deepEqual(pre({ type: 'ByteLevel', add_prefix_space: false }, 'Hello my friend, how is your day going?'), [
    'Hello', 'Ġmy', 'Ġfriend', ',', 'Ġhow', 'Ġis', 'Ġyour', 'Ġday', 'Ġgoing', '?',
  ]);
  const split = (behavior: string) => pre({ type: 'Split', pattern: { String: '-' }, behavior, invert: false }, 'the-final--countdown');
  assert.deepEqual(split('Removed'), ['the', 'final', 'countdown']);
  assert.deepEqual(split('Isolated'), ['the', '-', 'final', '-', '-', 'countdown']);
  assert.deepEqual(split('MergedWithPrevious'), ['the-', 'final-', '-', 'countdown']);
  assert.deepEqual(split('MergedWithNext'), ['the', '-final', '-', '-countdown']);
  assert.deepEqual(split('Contiguous'), ['the', '-', 'final', '--', 'countdown']);
});

// ---- the project's word-level tokenizer ------------------------------------------------------------

test('buildVocabulary splits like the tokenizer and orders by frequency', () => {
  const captions = ['Red heart, love', 'red HEART', 'Piñata party', 'cat'];
  assert.deepEqual(buildVocabulary(captions), ['heart', 'red', ',', 'cat', 'love', 'party', 'pinata']);
  assert.deepEqual(buildVocabulary(captions, 2), ['heart', 'red']);
  assert.deepEqual(buildVocabulary(captions, 1, { maxSize: 3 }), ['heart', 'red', ',']);
  assert.deepEqual(buildVocabulary(['Piñata'], 1, { stripAccents: false }), ['piñata']);
  assert.deepEqual(wordLevelWords('flag: United States'), ['flag', ':', 'united', 'states']);
});

test('word-level tokenizer: layout, encoding, padding and HF-loadable files', async () => {
  const words = buildVocabulary(['red heart, love', 'red heart', 'piñata', 'cat face', 'keycap 1']);
  const built = buildWordLevelTokenizer(words);
  const { tokenizer: tok, specialTokenIds: ids, files } = built;
  assert.deepEqual(ids, { pad: 0, unk: 1, bos: words.length + 2, eos: words.length + 3 });
  assert.equal(tok.vocabSize, words.length + 4);
  const w = (s: string) => tok.tokenToId(s)!;
  assert.deepEqual(tok.encode('RED Heart!'), [ids.bos, w('red'), w('heart'), ids.unk, ids.eos]);
  assert.deepEqual(tok.encode('Piñata,  cat'), [ids.bos, w('pinata'), w(','), w('cat'), ids.eos]);
  assert.deepEqual(tok.encode(''), [ids.bos, ids.eos]);

  const batch = tok.encodeBatch(['red cat', 'red heart red heart red heart'], { maxLength: 5 });
  assert.deepEqual([...batch.inputIds], [ids.bos, w('red'), w('cat'), ids.eos, ids.pad, ids.bos, w('red'), w('heart'), w('red'), ids.eos]);
  assert.deepEqual([...batch.attentionMask], [1, 1, 1, 1, 0, 1, 1, 1, 1, 1]);
  assert.equal(tok.encodeBatch(['red']).sequenceLength, 77);
  assert.equal(tok.decode(tok.encode('red heart, love'), { skipSpecialTokens: true }), 'red heart , love');

  // tokenizer.json in the shape `tokenizers` deserialises.
  const json = files['tokenizer.json'];
  assert.equal(json.version, '1.0');
  assert.deepEqual(json.model, { type: 'WordLevel', vocab: json.model.vocab, unk_token: '[UNK]' });
  assert.deepEqual(json.added_tokens.map((t) => [t.id, t.content, t.special]), [
    [0, '<|pad|>', true], [1, '[UNK]', true], [ids.bos, '<|startoftext|>', true], [ids.eos, '<|endoftext|>', true],
  ]);
  for (const t of json.added_tokens) assert.equal((json.model.vocab as Record<string, number>)[t.content], t.id);
  const post = json.post_processor as Record<string, unknown>;
  assert.equal(post.type, 'TemplateProcessing');
  assert.ok(Array.isArray(post.pair)); // required by the deserialiser
  assert.deepEqual((post.special_tokens as Record<string, unknown>)['<|endoftext|>'], { id: '<|endoftext|>', ids: [ids.eos], tokens: ['<|endoftext|>'] });
  assert.equal(files['tokenizer_config.json'].tokenizer_class, 'PreTrainedTokenizerFast');
  assert.equal(files['tokenizer_config.json'].pad_token, '<|pad|>');
  assert.equal(files['tokenizer_config.json'].model_max_length, 77);
  assert.deepEqual(files['special_tokens_map.json'], { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', pad_token: '<|pad|>', unk_token: '[UNK]' });

  const dir = await tmpDir();
  try {
    await writeTokenizerFiles(path.join(dir, 'tokenizer'), files);
    const text = await fsp.readFile(path.join(dir, 'tokenizer', 'tokenizer.json'), 'utf8');
    // The vocabulary is written in id order even for integer-like words such as "1".
    const vocabText = text.slice(text.indexOf('"vocab": {'));
    const order = [...vocabText.matchAll(/^ {6}"((?:[^"\\]|\\.)*)": (\d+)/gm)].map((m) => Number(m[2]));
    assert.deepEqual(order, [...order].sort((a, b) => a - b));
    assert.equal(order.length, tok.vocabSize);
    const loaded = await loadTokenizer(dir);
    assert.equal(loaded.padTokenId, 0);
    assert.equal(loaded.modelMaxLength, 77);
    for (const t of ['red heart, love', 'keycap 1', 'Unknown words!', 'piñata']) assert.deepEqual(loaded.encode(t), tok.encode(t));
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }

  assert.throws(() => buildWordLevelTokenizer(['Red']), /never produce/);
  assert.throws(() => buildWordLevelTokenizer(['red cat']), /never produce/);
});

test('unknownWords: the words a word-level model reads as [UNK], each once, punctuation and added tokens aside', () => {
  const { tokenizer: tok } = buildWordLevelTokenizer(['red', 'heart', 'noto', 'style', 'pinata']);
  assert.deepEqual(tok.unknownWords('Red hills, pastel HILLS; noto style!'), ['hills', 'pastel']);
  // Words as the model sees them: normalized (accents folded, lower case), so "Piñata" is known.
  assert.deepEqual(tok.unknownWords('Piñata, Crème heart'), ['creme']);
  assert.deepEqual(tok.unknownWords('<|startoftext|> red heart [UNK]'), []);
  assert.deepEqual(tok.unknownWords('red 42 heart 😀'), ['42', '😀']);
  assert.deepEqual(tok.unknownWords(''), []);
  // What encode() turns into the unknown token, and nothing else.
  const unk = tok.unkTokenId!;
  for (const text of ['red hills', 'noto style', 'pastel, colours!']) {
    const unknownIds = tok.encode(text, { addSpecialTokens: false }).filter((i) => i === unk).length;
    const punctuation = tok.preTokenize(text).filter((w) => /^\p{P}+$/u.test(w)).length;
    assert.equal(tok.unknownWords(text).length, unknownIds - punctuation, text);
  }
});

test('unknownWords: BPE lists words with characters it cannot spell; byte fallback spells every word', () => {
  // The tiny CLIP vocabulary has no "x" and no byte fallback: "hex" needs the unknown token.
  assert.deepEqual(clip().unknownWords('Hello hex world, hex'), ['hex']);
  const byteTokens = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const vocab: Record<string, number> = { '<unk>': 0, ...Object.fromEntries(['h', 'i', 'hi'].map((t, i) => [t, i + 1])) };
  byteTokens.forEach((t, i) => (vocab[t] = i + 4));
  const json = (byteFallback: boolean): TokenizerJson => ({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: 0, content: '<unk>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: byteFallback, vocab, merges: ['h i'] },
  });
  assert.deepEqual(new Tokenizer(json(true)).unknownWords('hi zebra ünïcode 😀'), []);
  assert.deepEqual(new Tokenizer(json(false)).unknownWords('hi zebra ünïcode 😀'), ['zebra', 'ünïcode', '😀']);
});
