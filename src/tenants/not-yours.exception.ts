import { NotFoundException } from '@nestjs/common';

/**
 * A request field names a resource the tenant does not have (another tenant's, or none at all):
 * 404, with one message wherever the field appears, so the answer never tells the two apart.
 */
export class NotYoursException extends NotFoundException {
  constructor(field: string, id: string, resource: 'dataset' | 'adapter') {
    super(`${field} ${id} does not name one of your ${resource}s`);
  }
}
