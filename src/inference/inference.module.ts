import { Module } from '@nestjs/common';
import { GenerationBatcher } from './generation-batcher.service';
import { InferenceThreadClient } from './inference-thread.client';
import { InferenceService } from './inference.service';

/** Image generation on the inference thread; the batcher is exported for its observers (metrics). */
@Module({
  providers: [InferenceThreadClient, GenerationBatcher, InferenceService],
  exports: [InferenceService, GenerationBatcher],
})
export class InferenceModule {}
