import { Global, Module } from '@nestjs/common';
import { join } from 'node:path';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { LocalStorageDriver } from './local-storage.driver';
import { StoragePort } from './storage.port';

/** Objects live under DATA_DIR/objects, next to the SQLite file and the admin token. */
@Global()
@Module({
  providers: [
    {
      provide: StoragePort,
      inject: [APP_CONFIG],
      useFactory: (config: RuntimeConfig) => new LocalStorageDriver(join(config.dataDir, 'objects')),
    },
  ],
  exports: [StoragePort],
})
export class StorageModule {}
