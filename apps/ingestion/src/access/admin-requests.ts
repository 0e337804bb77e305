import { z } from 'zod';
import { unknownScopes } from '@tributary/access';
import type { FieldProblem } from '@tributary/runtime';

const name = z.string().trim().min(1).max(100);
// Known = honoured by some service: the union of every app's scopes, generated into @tributary/contracts from
// tools/services/services.json, so keys can be issued for the services behind the edge without importing them.
const scopes = z
  .array(z.string())
  .min(1)
  .max(20)
  .superRefine((list, ctx) => {
    const unknown = unknownScopes(list);
    if (unknown.length > 0)
      ctx.addIssue({ code: 'custom', message: `unknown scope(s): ${unknown.join(', ')}` });
  })
  .transform((list) => [...new Set(list)]);

export const createWorkspaceRequest = z.object({
  name,
  /** Optional explicit id, e.g. to adopt a workspace that so far only had bootstrap keys. */
  id: z
    .string()
    .regex(/^ws_[a-z0-9_]{3,60}$/, 'must look like ws_<lowercase letters, digits, _>')
    .optional(),
});
export const createCredentialRequest = z.object({ name, scopes });
export const rotateKeyRequest = z.object({
  /** How long the previous secret keeps working; defaults to API_KEY_ROTATION_GRACE_SECONDS. */
  graceSeconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 86_400)
    .optional(),
});

/** Parses an admin request body; every bad field is named. */
export function parseAdminRequest<T extends z.ZodTypeAny>(
  schema: T,
  body: unknown,
): { ok: true; value: z.infer<T> } | { ok: false; problems: FieldProblem[] } {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return { ok: true, value: parsed.data as z.infer<T> };
  return {
    ok: false,
    problems: parsed.error.issues.map((issue) => ({
      field: issue.path.join('.') || 'body',
      reason: issue.message,
    })),
  };
}
