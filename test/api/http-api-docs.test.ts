import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

function section(readme: string, heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has "${heading}"`);
  const next = readme.indexOf('\n## ', start + heading.length + 2);
  return readme.slice(start, next < 0 ? undefined : next);
}

describe("README's API documentation", () => {
  const readme = readFileSync('README.md', 'utf8');

  it('keeps the endpoint table in one piece (a blank line would end the table)', () => {
    const lines = section(readme, '## API overview (v1)').split('\n');
    const first = lines.findIndex((line) => line.startsWith('| Endpoint |'));
    assert.ok(first >= 0);
    let end = first;
    while (lines[end + 1]?.startsWith('|')) end++;
    const table = lines.slice(first, end + 1).join('\n');
    // The last rows of the table, each must still be inside it.
    for (const row of ['`GET /v1/fine-tunes/{id}/webhook-deliveries`', '`GET /v1/webhooks/secret`', '`GET /metrics`']) {
      assert.ok(table.includes(row), `${row} is in the endpoint table`);
    }
  });

  it('stands on its own: no sections of documents the repository does not have', () => {
    assert.doesNotMatch(readme, /§\s*\d/);
    assert.doesNotMatch(readme, /design brief/i);
  });
});
