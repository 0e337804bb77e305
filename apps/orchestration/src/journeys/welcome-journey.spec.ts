import { welcomeStepFor } from './welcome-journey';

describe('welcomeStepFor', () => {
  it('welcomes leads below the threshold and nurtures those at or above it', () => {
    expect(welcomeStepFor(0, 20)).toBe('welcome-email');
    expect(welcomeStepFor(19, 20)).toBe('welcome-email');
    expect(welcomeStepFor(20, 20)).toBe('sales-ready-nurture');
  });
});
