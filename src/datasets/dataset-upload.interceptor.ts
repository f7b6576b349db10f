import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { MultipartInterceptor, MultipartOptions } from '../http/multipart';

/** Limits for `POST /v1/datasets/{id}/images`: image parts (each ≤ the request size) or one zip. */
@Injectable()
export class DatasetUploadInterceptor extends MultipartInterceptor {
  constructor(@Inject(APP_CONFIG) private readonly config: RuntimeConfig) {
    super();
  }

  protected options(): MultipartOptions {
    const { limits } = this.config;
    return {
      fileFields: ['images', 'archive'],
      maxRequestBytes: limits.uploadRequestBytes,
      // An oversized image is rejected on its own (too_large); only a zip may use the whole request.
      maxFileBytes: limits.uploadRequestBytes,
      maxFiles: limits.uploadFiles,
      maxFields: 5,
    };
  }
}
