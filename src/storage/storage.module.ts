import { Global, Module } from '@nestjs/common';
import { join } from 'node:path';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { LocalStorageDriver } from './local-storage.driver';
import { S3StorageDriver } from './s3-storage.driver';
import { StoragePort } from './storage.port';

/** Local files under DATA_DIR/objects (the embedded default), or an S3-compatible bucket checked at startup. */
@Global()
@Module({
  providers: [
    {
      provide: StoragePort,
      inject: [APP_CONFIG],
      useFactory: async (config: RuntimeConfig): Promise<StoragePort> => {
        if (config.storage.driver === 'local') return new LocalStorageDriver(join(config.dataDir, 'objects'));
        const driver = new S3StorageDriver(config.storage);
        await driver.verifyAccess();
        return driver;
      },
    },
  ],
  exports: [StoragePort],
})
export class StorageModule {}
