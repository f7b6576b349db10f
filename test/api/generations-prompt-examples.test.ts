import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { BUNDLED_MODEL_NAME, loadTokenizer, type Tokenizer } from '../../src/engine';

/*
 * The prompts and captions the docs show must be ones the bundled model reads in full: a newcomer who
 * copies one gets an image of what it says, with `unknownWords` empty. Style phrases are not checked:
 * a brand's trigger may be a new word by design.
 */

const PROMPT_FIELDS = new Set(['prompt', 'negativePrompt', 'prompts', 'caption', 'captions']);

/** A prompt example as written: a string, a list, or a JSON-encoded list (multipart caption fields). */
function textsOf(example: unknown): string[] {
  if (Array.isArray(example)) return example.flatMap(textsOf);
  if (typeof example !== 'string') return [];
  if (example.startsWith('[')) return textsOf(JSON.parse(example));
  return [example];
}

/** Examples of every schema property that holds prompts or captions, wherever the schema sits. */
function specPromptExamples(node: unknown, path = '$', found: { path: string; text: string }[] = []): { path: string; text: string }[] {
  if (Array.isArray(node)) node.forEach((item, i) => specPromptExamples(item, `${path}[${i}]`, found));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      const example = (value as { example?: unknown } | null)?.example;
      if (PROMPT_FIELDS.has(key) && example !== undefined) for (const text of textsOf(example)) found.push({ path: `${path}.${key}`, text });
      specPromptExamples(value, `${path}.${key}`, found);
    }
  }
  return found;
}

/** Prompts in the README's commands: JSON bodies, `--prompt` arguments and caption lists. */
function readmePrompts(readme: string): string[] {
  const texts: string[] = [];
  for (const m of readme.matchAll(/"(?:prompt|negativePrompt)"\s*:\s*"([^"]*)"/g)) texts.push(m[1]);
  for (const m of readme.matchAll(/--(?:prompt|negative) "([^"]*)"/g)) texts.push(m[1]);
  for (const m of readme.matchAll(/captions=(\[[^\]]*\])|'captions', '(\[[^\]]*\])'/g)) texts.push(...textsOf(m[1] ?? m[2]));
  return texts;
}

describe('prompt examples in the docs', () => {
  let tokenizer: Tokenizer;
  before(async () => {
    tokenizer = await loadTokenizer(join(process.cwd(), 'models', BUNDLED_MODEL_NAME, 'tokenizer'));
  });

  it('the OpenAPI document shows only prompts and captions the bundled model knows', () => {
    const examples = specPromptExamples(JSON.parse(readFileSync(join(process.cwd(), 'openapi', 'openapi.json'), 'utf8')));
    const paths = examples.map((e) => e.path);
    for (const field of ['CreateGenerationDto.properties.prompt', 'CreateGenerationDto.properties.negativePrompt', 'GenerationDto.properties.prompt', 'FineTunePreviewDto.properties.prompts', 'DatasetImageDto.properties.caption']) {
      assert.ok(paths.some((p) => p.endsWith(field)), `no example found at ${field}`);
    }
    assert.ok(paths.some((p) => p.includes('multipart/form-data') && p.endsWith('.captions')), 'the multipart caption list is checked');
    for (const { path, text } of examples) assert.deepEqual(tokenizer.unknownWords(text), [], `${path}: "${text}"`);
  });

  it('the README shows only prompts and captions the bundled model knows', () => {
    const prompts = readmePrompts(readFileSync(join(process.cwd(), 'README.md'), 'utf8'));
    assert.ok(prompts.length >= 6, `found ${prompts.length} prompts`);
    for (const text of prompts) assert.deepEqual(tokenizer.unknownWords(text), [], `README: "${text}"`);
  });
});
