import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adapterUsageFromMetadata } from '../../src/adapters/adapters.service';
import { previewSubjects, PREVIEW_PROMPTS } from '../../src/fine-tunes/fine-tune-preview';
import { defaultStylePhrase, normalizeStylePhrase, STYLE_PHRASE_MAX_LENGTH, withoutStylePhrase, withStylePhrase } from '../../src/fine-tunes/style-phrase';

describe('style phrase', () => {
  it('is appended to captions that lack it, after a comma', () => {
    assert.equal(withStylePhrase('a red fox', 'acme style'), 'a red fox, acme style');
    assert.equal(withStylePhrase('  a red fox,  ', 'acme style'), 'a red fox, acme style');
    assert.equal(withStylePhrase('', 'acme style'), 'acme style', 'an uncaptioned image trains on the phrase alone');
    assert.equal(withStylePhrase(null, 'acme style'), 'acme style');
  });

  it('is taken out again for the content caption that output preservation uses', () => {
    assert.equal(withoutStylePhrase(withStylePhrase('a red fox', 'acme style'), 'acme style'), 'a red fox');
    assert.equal(withoutStylePhrase('ACME  Style, a red fox, on snow', 'acme style'), 'a red fox, on snow');
    assert.equal(withoutStylePhrase('a red fox', null), 'a red fox');
    assert.equal(withoutStylePhrase('acme style', 'acme style'), '', 'an uncaptioned image has an empty content caption');
  });

  it('leaves captions that already contain it (any case or spacing) as they are', () => {
    assert.equal(withStylePhrase('a red fox, ACME  Style', 'acme style'), 'a red fox, ACME  Style');
    assert.equal(withStylePhrase('acme style fox', 'acme style'), 'acme style fox');
  });

  it('leaves captions alone without a phrase (jobs from before style phrases)', () => {
    assert.equal(withStylePhrase('a red fox', null), 'a red fox');
    assert.equal(withStylePhrase(' a red fox ', ''), 'a red fox');
  });

  it('normalises to lower case with single spaces', () => {
    assert.equal(normalizeStylePhrase('  Acme \t  Style '), 'acme style');
  });

  it('defaults to the dataset name followed by "style"', () => {
    assert.equal(defaultStylePhrase('Mood board'), 'mood board style');
    assert.equal(defaultStylePhrase('  Acme   Brand '), 'acme brand style');
    assert.equal(defaultStylePhrase('Acme Style'), 'acme style', 'no "style style"');
    assert.equal(defaultStylePhrase('line\u0000\nbreak'), 'line break style');
    assert.equal(defaultStylePhrase('\u0001'), 'custom style');
    const long = defaultStylePhrase('word '.repeat(60));
    assert.ok(long.length <= STYLE_PHRASE_MAX_LENGTH, `${long.length} characters`);
    assert.match(long, /^(word )+style$/, 'cut at a word boundary');
  });
});

describe('preview subjects', () => {
  it('uses the bundled model’s common prompts, those the dataset does not mention first', () => {
    const subjects = previewSubjects('emoji-base', ['a Red Heart', 'cat face, happy']);
    assert.equal(subjects.length, PREVIEW_PROMPTS);
    assert.deepEqual(subjects.map((s) => s.subject), ['sun', 'smiling face', 'pizza', 'tree']);
    assert.ok(subjects.every((s) => typeof s.conceptId === 'string'));
  });

  it('fills up with mentioned prompts when the dataset uses nearly all of them', () => {
    const subjects = previewSubjects('emoji-base', ['red heart sun smiling face cat face pizza tree']);
    assert.deepEqual(subjects.map((s) => s.subject), ['rocket', 'red heart', 'sun', 'smiling face']);
  });

  it('uses dataset-independent subjects for other models, without concepts', () => {
    const subjects = previewSubjects('stable-diffusion-v1-5', ['a house by the sea']);
    assert.equal(subjects.length, PREVIEW_PROMPTS);
    assert.ok(!subjects.some((s) => s.subject === 'a house'));
    assert.ok(subjects.every((s) => s.conceptId === null));
  });
});

describe('adapter usage from imported metadata', () => {
  it('reads the style phrase and a recommended scale in (0, 2], else scale 1 and no phrase', () => {
    assert.deepEqual(adapterUsageFromMetadata({ style_phrase: ' Acme  Style', recommended_scale: '0.8' }), { stylePhrase: 'acme style', recommendedScale: 0.8 });
    assert.deepEqual(adapterUsageFromMetadata(null), { stylePhrase: null, recommendedScale: 1 });
    for (const bad of ['0', '-1', '3', 'strong', '']) assert.equal(adapterUsageFromMetadata({ recommended_scale: bad }).recommendedScale, 1, bad);
    assert.equal(adapterUsageFromMetadata({ style_phrase: 'a\tb' }).stylePhrase, 'a b');
    assert.equal(adapterUsageFromMetadata({ style_phrase: 'x'.repeat(101) }).stylePhrase, null);
  });
});
