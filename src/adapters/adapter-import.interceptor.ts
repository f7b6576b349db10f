import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { MultipartInterceptor, MultipartOptions } from '../http/multipart';

/** Limits for `POST /v1/adapters`: one `file` part. */
@Injectable()
export class AdapterImportInterceptor extends MultipartInterceptor {
  constructor(@Inject(APP_CONFIG) private readonly config: RuntimeConfig) {
    super();
  }

  protected options(): MultipartOptions {
    const bytes = this.config.limits.adapterBytes;
    return { fileFields: ['file'], maxRequestBytes: bytes + 64 * 1024, maxFileBytes: bytes, maxFiles: 1, maxFields: 4, maxFieldBytes: 4096 };
  }
}
