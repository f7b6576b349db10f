import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { MultipartInterceptor, MultipartOptions } from '../http/multipart';

/** Room for peft's adapter_config.json beside the weights (a few kB in practice). */
const ADAPTER_CONFIG_BYTES = 1024 * 1024;

/** Limits for `POST /v1/adapters`: one `file` part and, for peft adapters, one `adapterConfig` part. */
@Injectable()
export class AdapterImportInterceptor extends MultipartInterceptor {
  constructor(@Inject(APP_CONFIG) private readonly config: RuntimeConfig) {
    super();
  }

  protected options(): MultipartOptions {
    const bytes = this.config.limits.adapterBytes;
    return { fileFields: ['file', 'adapterConfig'], maxRequestBytes: bytes + ADAPTER_CONFIG_BYTES + 64 * 1024, maxFileBytes: bytes, maxFiles: 2, maxFields: 4, maxFieldBytes: 4096 };
  }
}
