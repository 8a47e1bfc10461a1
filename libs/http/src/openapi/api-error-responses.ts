import { applyDecorators } from '@nestjs/common';
import { ApiBearerAuth, ApiResponse } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';

/** The statuses the one error filter (error.filter.ts) answers with, as the OpenAPI document shows them. */
export type ErrorStatus = 400 | 401 | 403 | 409 | 413 | 501 | 503;

const DESCRIPTIONS: Record<ErrorStatus, string> = {
  400: 'invalid input: `issues` names each field and what is wrong with it',
  401: 'no valid access token (header `WWW-Authenticate: Bearer`)',
  403: 'the token does not allow this (scope or profile); nothing was written',
  409: 'a profile is being erased (`erasure_in_progress`): transient; retry after `Retry-After` seconds',
  413: 'the body is larger than HTTP_BODY_LIMIT',
  501: 'not offered by this deployment (`not_supported_across_regions`: erasure while the keyspaces span several datacenters, docs/adr/0012); nothing was changed',
  503: 'a dependency is unavailable or the process is shedding load; retry after `Retry-After` seconds',
};

/** The body of every error answer (ErrorBody in error.filter.ts). */
const ERROR_BODY_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'a stable code, e.g. invalid_input, forbidden, dependency_unavailable' },
    message: { type: 'string' },
    issues: {
      type: 'array',
      items: {
        type: 'object',
        required: ['field', 'message'],
        properties: { field: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
};

/** Documents the error answers of a controller or route, and that it needs a bearer token. */
export function ApiErrorResponses(...statuses: ErrorStatus[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiBearerAuth(),
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: DESCRIPTIONS[status],
        schema: ERROR_BODY_SCHEMA,
        ...(status === 503 || status === 409 ? { headers: { 'Retry-After': { schema: { type: 'integer' } } } } : {}),
      }),
    ),
  );
}
