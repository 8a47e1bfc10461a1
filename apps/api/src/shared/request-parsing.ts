import { z } from 'zod/v4';
import { IDENTIFIER_PATTERN, InvalidInputError, MAX_IDENTIFIER_LENGTH } from '@vh/domain';

// Parsing shared by every feature of the API: one error shape for every 400 (invariant 5).

export const identifierSchema = z
  .string()
  .min(1)
  .max(MAX_IDENTIFIER_LENGTH)
  .regex(IDENTIFIER_PATTERN, 'is not a valid identifier');
export const instantSchema = z
  .string()
  .datetime({ offset: true, message: 'must be an ISO-8601 date-time with a time zone' })
  .transform((s) => Date.parse(s));

/** Parses a request part; every problem becomes a field issue of one InvalidInputError (HTTP 400). */
export function parseWith<T extends z.ZodTypeAny>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new InvalidInputError(
    result.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message })),
  );
}
