import { PATTERN_METADATA } from '@nestjs/microservices/constants';
import { IntakeHandler } from './intake.handler';
import { reportingTopics } from './reporting-topics';

describe('IntakeHandler', () => {
  it('handles exactly the topics the catalog says reporting consumes (what a recompute replays)', () => {
    const prototype = IntakeHandler.prototype as unknown as Record<string, unknown>;
    const handled = Object.getOwnPropertyNames(prototype)
      .filter((name) => name !== 'constructor')
      .flatMap(
        (name) => (Reflect.getMetadata(PATTERN_METADATA, prototype[name] as object) ?? []) as string[],
      );
    expect(handled.sort()).toEqual(reportingTopics().sort());
  });
});
