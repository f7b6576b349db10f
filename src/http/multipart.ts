import {
  BadRequestException,
  CallHandler,
  createParamDecorator,
  ExecutionContext,
  HttpException,
  Injectable,
  NestInterceptor,
  PayloadTooLargeException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import busboy from 'busboy';
import type { Request } from 'express';
import type { Observable } from 'rxjs';

export interface UploadedPart {
  field: string;
  /** The client's file name, reduced to its last path segment; only ever used as a label. */
  filename: string;
  mimeType: string;
  data: Buffer;
}

export interface MultipartOptions {
  /** File fields accepted; any other file part is a 400 naming it. */
  fileFields: string[];
  maxRequestBytes: number;
  maxFileBytes: number;
  maxFiles: number;
  maxFieldBytes?: number;
  maxFields?: number;
}

type MultipartRequest = Request & { uploadedParts?: UploadedPart[] };

const MB = 1024 * 1024;

function describeBytes(bytes: number): string {
  return bytes >= MB && bytes % MB === 0 ? `${bytes / MB} MB` : `${bytes} bytes`;
}

function baseName(name: string | undefined): string {
  const last = (name ?? '').split(/[\\/]/).pop() ?? '';
  return last.replace(/[\u0000-\u001f]/g, '').slice(0, 255) || 'unnamed';
}

/**
 * Reads a multipart/form-data body into memory with hard limits. Text fields become `req.body`
 * (validated by the global ValidationPipe like any JSON body); file parts become `uploadedParts`.
 */
export function readMultipart(req: MultipartRequest, options: MultipartOptions): Promise<void> {
  const contentType = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data/i.test(contentType)) {
    return Promise.reject(new UnsupportedMediaTypeException('Content-Type must be multipart/form-data'));
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > options.maxRequestBytes) {
    req.resume();
    return Promise.reject(new PayloadTooLargeException(`Upload exceeds the limit of ${describeBytes(options.maxRequestBytes)} per request`));
  }

  return new Promise<void>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        limits: {
          fileSize: options.maxFileBytes,
          files: options.maxFiles,
          fields: options.maxFields ?? 20,
          fieldSize: options.maxFieldBytes ?? MB,
          parts: options.maxFiles + (options.maxFields ?? 20),
        },
      });
    } catch (error) {
      reject(new BadRequestException(`Malformed multipart body: ${(error as Error).message}`));
      return;
    }
    const fields: Record<string, string | string[]> = Object.create(null);
    const parts: UploadedPart[] = [];
    let settled = false;
    let received = 0;

    const fail = (error: HttpException) => {
      if (settled) return;
      settled = true;
      req.unpipe(parser);
      parser.removeAllListeners();
      parser.on('error', () => undefined);
      // Drain what the client still sends so it can read the error response.
      req.resume();
      reject(error);
    };

    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > options.maxRequestBytes) {
        fail(new PayloadTooLargeException(`Upload exceeds the limit of ${describeBytes(options.maxRequestBytes)} per request`));
      }
    });

    parser.on('file', (field, stream, info) => {
      if (!options.fileFields.includes(field)) {
        stream.resume();
        fail(new BadRequestException(`Unexpected file field "${field}"; expected ${options.fileFields.map((f) => `"${f}"`).join(' or ')}`));
        return;
      }
      const chunks: Buffer[] = [];
      const filename = baseName(info.filename);
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      // A truncated body errors the part's stream too; the parser's own error event reports it.
      stream.on('error', () => undefined);
      stream.on('limit', () => {
        fail(new PayloadTooLargeException(`File "${filename}" in field "${field}" exceeds the limit of ${describeBytes(options.maxFileBytes)}`));
      });
      stream.on('end', () => {
        if (!settled) parts.push({ field, filename, mimeType: info.mimeType, data: Buffer.concat(chunks) });
      });
    });
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) {
        fail(new PayloadTooLargeException(`Field "${name}" exceeds the limit of ${describeBytes(options.maxFieldBytes ?? MB)}`));
        return;
      }
      const existing = fields[name];
      fields[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
    });
    parser.on('filesLimit', () => fail(new PayloadTooLargeException(`Too many files: at most ${options.maxFiles} per request`)));
    parser.on('fieldsLimit', () => fail(new PayloadTooLargeException(`Too many form fields: at most ${options.maxFields ?? 20}`)));
    parser.on('partsLimit', () => fail(new PayloadTooLargeException('Too many parts in the multipart body')));
    parser.on('error', (error: Error) => fail(new BadRequestException(`Malformed multipart body: ${error.message}`)));
    parser.on('close', () => {
      if (settled) return;
      settled = true;
      req.body = { ...fields };
      req.uploadedParts = parts;
      resolve();
    });
    req.on('aborted', () => fail(new BadRequestException('Request aborted by the client')));
    req.pipe(parser);
  });
}

/** Route-level multipart parsing; options are resolved per request (limits come from configuration). */
@Injectable()
export abstract class MultipartInterceptor implements NestInterceptor {
  protected abstract options(): MultipartOptions;

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    await readMultipart(context.switchToHttp().getRequest<MultipartRequest>(), this.options());
    return next.handle();
  }
}

/** The file parts read by a MultipartInterceptor, in the order they were sent. */
export const UploadedParts = createParamDecorator(
  (_data: unknown, context: ExecutionContext): UploadedPart[] =>
    context.switchToHttp().getRequest<MultipartRequest>().uploadedParts ?? [],
);
