import { z } from 'zod';

const jsonObject = z.record(z.string(), z.unknown());

/** A Segment-spec `track` call as sent by the SDKs (subset the skeleton accepts; the full spec comes with the edge issue). */
export const trackCallSchema = z
  .object({
    type: z.literal('track').optional(),
    event: z.string().min(1, 'must be a non-empty event name').max(200),
    userId: z.string().min(1).max(200).optional(),
    anonymousId: z.string().min(1).max(200).optional(),
    messageId: z.string().min(1).max(200).optional(),
    properties: jsonObject.optional(),
    context: jsonObject.optional(),
    timestamp: z.string().datetime({ offset: true }).optional(),
  })
  .refine((call) => call.userId !== undefined || call.anonymousId !== undefined, {
    message: 'userId or anonymousId is required',
    path: ['userId'],
  });

export type TrackCall = z.infer<typeof trackCallSchema>;

/** Field-level validation problems, as the edge reports them. */
export interface FieldProblem {
  field: string;
  reason: string;
}

/** Validates a body; returns the call or the list of problems (never throws). */
export function parseTrackCall(
  body: unknown,
): { ok: true; call: TrackCall } | { ok: false; problems: FieldProblem[] } {
  const parsed = trackCallSchema.safeParse(body);
  if (parsed.success) return { ok: true, call: parsed.data };
  return {
    ok: false,
    problems: parsed.error.issues.map((issue) => ({
      field: issue.path.join('.') || '(body)',
      reason: issue.message,
    })),
  };
}
