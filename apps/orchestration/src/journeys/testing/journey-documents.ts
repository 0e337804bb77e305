/** Journey definitions for specs: written as a user would (an object, or YAML text), refused ones thrown. */
import type { FieldProblem } from '@tributary/runtime';
import { parseJourney, validateJourney, type JourneyDefinition } from '../journey-definition';

/** A journey from its object form; throws with the field errors when refused. */
export function journeyOf(document: unknown): JourneyDefinition {
  const parsed = validateJourney(document);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.value;
}

/** A journey from YAML text; throws with the field errors when refused. */
export function journeyFromYaml(text: string): JourneyDefinition {
  const parsed = parseJourney(text, 'application/yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.value;
}

/** The field errors of a YAML journey that must be refused; throws when it is accepted. */
export function journeyErrors(text: string): FieldProblem[] {
  const parsed = parseJourney(text, 'application/yaml');
  if (parsed.ok) throw new Error('expected the journey to be refused');
  return parsed.errors;
}
