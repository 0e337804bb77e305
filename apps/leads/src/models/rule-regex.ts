import { RE2JS } from 're2js';

/** A compiled `matches` pattern of a fit rule. */
export interface RuleRegex {
  /** True when the pattern matches anywhere in `value`, case-insensitively. */
  test(value: string): boolean;
}

/**
 * Compiles a rule's pattern with RE2JS, a pure-JavaScript port of RE2: matching takes time linear in the input
 * whatever the pattern (no catastrophic backtracking, so `(a|aa)+$` or `(a+)+` cost nothing special), at the price
 * of lookarounds and backreferences, which RE2 does not have. JavaScript escapes (`\u00e9`, `/`) and named groups
 * `(?<name>...)` are translated first. Throws (an `RE2JSException`) when the pattern does not compile.
 */
export function compileRuleRegex(source: string): RuleRegex {
  return RE2JS.compile(RE2JS.translateRegExp(source), RE2JS.CASE_INSENSITIVE);
}

/** Why a pattern is refused, for the model's field-level validation errors; undefined when it compiles. */
export function ruleRegexProblem(source: string): string | undefined {
  try {
    compileRuleRegex(source);
    return undefined;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const unsupported = /unsupported|invalid named capture|invalid escape sequence: `\\[1-9k]/.test(message);
    return `not a valid regular expression: ${message}${
      unsupported ? ' (patterns run on a linear-time engine: no lookarounds or backreferences)' : ''
    }`;
  }
}
