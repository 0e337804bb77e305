/** One field-level validation problem, as every API reports them: `{error, problems: [{field, reason}]}`. */
export type { FieldProblem } from '@tributary/runtime';
