import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { ConfigError, loadConfig } from './config/app-config';
import { createApp } from './http/create-app';
import { EmbeddedWorkerSupervisor } from './worker/embedded-worker.supervisor';

async function bootstrap(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const { app } = await createApp(config);
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
