import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { loadConfigOrExit } from './config/app-config';
import { createApp } from './create-app';
import { armShutdownDeadline } from './lifecycle/shutdown-deadline';
import { EmbeddedWorkerSupervisor } from './worker/embedded-worker.supervisor';

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit(process.env);
  const { app } = await createApp(config);
  // Nest closes the app on these signals (enableShutdownHooks); the deadline bounds how long that may take.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => armShutdownDeadline(config.shutdownTimeoutMs));
  await app.listen(config.port, config.host);
  // Embedded default: training runs in a child process, never on this event loop.
  if (config.worker.embedded) app.get(EmbeddedWorkerSupervisor).start();
  else new Logger('Bootstrap').log('EMBEDDED_WORKER=false: fine-tunes wait for a worker started with npm run worker');
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  // The e2e tests and operators read this line to find the (possibly ephemeral) port.
  new Logger('Bootstrap').log(`Listening on http://${shownHost}:${port} (docs at /docs)`);
}

bootstrap().catch((error) => {
  console.error(error);
  process.exit(1);
});
