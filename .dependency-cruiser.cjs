/**
 * Import boundaries (run by `npm run lint:imports`, which `npm test` calls first):
 * the engine is a library with no web, database or queue code and no knowledge of the app around it;
 * the emoji lab (tools that built the bundled model) is reached only from the command-line tools;
 * code outside the engine and the lab enters the engine through src/engine/index.ts; the webhook
 * outbox knows no feature; no cycles.
 */
module.exports = {
  forbidden: [
    {
      name: 'engine-no-framework',
      comment: 'The engine runs in worker threads and CLIs: no NestJS, database or queue libraries.',
      severity: 'error',
      from: { path: '^src/engine/' },
      to: { path: '(^|/)node_modules/(@nestjs/|typeorm|bullmq|ioredis|pg/|pg-|better-sqlite3|express|class-validator|class-transformer)' },
    },
    {
      name: 'engine-self-contained',
      comment: 'The engine imports nothing from src/ outside src/engine.',
      severity: 'error',
      from: { path: '^src/engine/' },
      to: { path: '^src/', pathNot: '^src/engine/' },
    },
    {
      name: 'lab-only-from-cli',
      comment: 'The emoji lab (data, scorer training, evaluation, pretraining) is research tooling: only the CLIs and the lab itself import it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(lab|cli)/' },
      to: { path: '^src/lab/' },
    },
    {
      name: 'engine-through-its-index',
      comment: 'Outside the engine and the lab, import the engine from src/engine/index.ts only.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(engine|lab)/' },
      to: { path: '^src/engine/', pathNot: '^src/engine/index\\.ts$' },
    },
    {
      name: 'webhooks-take-envelopes',
      comment: 'Features hand the webhook outbox an envelope: src/webhooks imports no feature module.',
      severity: 'error',
      from: { path: '^src/webhooks/' },
      to: { path: '^src/(adapters|datasets|feedback|fine-tunes|generations|inference|models)/' },
    },
    {
      name: 'no-cycles',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
