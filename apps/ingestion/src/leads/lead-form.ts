import { z } from 'zod';
import type { FieldProblem } from './field-problem';

const optionalName = z.string().trim().max(200, 'must be at most 200 characters').optional();

/** Lower-cases the whole address: mailbox case is almost never significant, and one person must be one key. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** An email address, trimmed and lower-cased before its syntax is checked. */
export const emailAddress = z
  .string({ invalid_type_error: 'must be a string' })
  .max(254, 'must be at most 254 characters')
  .transform(normaliseEmail)
  .pipe(z.string().email('must be a valid email address'));

// An HTML form posts text: a ticked checkbox sends "on" (or its value), so those words count as answers too.
const FORM_ANSWERS: Record<string, boolean> = {
  true: true,
  on: true,
  yes: true,
  '1': true,
  false: false,
  off: false,
  no: false,
  '0': false,
};

/** A consent answer: a JSON boolean, or a form's text for one. */
const consentAnswer = z.preprocess(
  (value) => (typeof value === 'string' ? (FORM_ANSWERS[value.trim().toLowerCase()] ?? value) : value),
  z.boolean({ invalid_type_error: 'must be true or false' }),
);

/** A lead form submission (`POST /v1/leads`). Unknown keys are kept only in the raw fields of the event. */
export const leadFormSchema = z.object(
  {
    email: emailAddress,
    firstName: optionalName,
    lastName: optionalName,
    company: optionalName,
    consents: z.record(z.string().min(1).max(64), consentAnswer).default({}),
    formId: z.string().min(1).max(200).optional(),
    /** Client-generated id of this submission; a retried post with the same id produces the lead once. */
    submissionId: z.string().min(1).max(200).optional(),
    /** Further form fields, kept as raw fields. */
    fields: z.record(z.string().max(100), z.unknown()).optional(),
  },
  { invalid_type_error: 'must be a JSON object' },
);

export type LeadForm = z.infer<typeof leadFormSchema>;

/**
 * Validates a submission and the workspace's required consents (each must be present and granted); returns the
 * normalised form or every problem at once (never throws).
 */
export function parseLeadForm(
  body: unknown,
  requiredConsents: readonly string[],
): { ok: true; form: LeadForm } | { ok: false; problems: FieldProblem[] } {
  const parsed = leadFormSchema.safeParse(body);
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((issue) => ({
        field: issue.path.join('.') || '(body)',
        reason: issue.message,
      })),
    };
  }
  const problems: FieldProblem[] = [];
  for (const purpose of requiredConsents) {
    const answer = parsed.data.consents[purpose];
    if (answer === undefined)
      problems.push({ field: `consents.${purpose}`, reason: 'required consent is missing' });
    else if (!answer)
      problems.push({ field: `consents.${purpose}`, reason: 'required consent must be granted' });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, form: parsed.data };
}
