import IORedis, { Redis } from 'ioredis';

/** One ioredis connection as BullMQ wants it (blocking commands never time out client-side). */
export function createRedisConnection(url: string): Redis {
  return new IORedis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false });
}
