/** One field-level validation problem, as the edge reports them: `{error, problems: [{field, reason}]}`. */
export interface FieldProblem {
  field: string;
  reason: string;
}
