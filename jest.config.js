// One Jest config for the monorepo: SWC transpiles (with decorator metadata), tsconfig paths map to libs.
// Suites by file name: *.spec.ts = unit (no I/O), *.int.spec.ts = integration (real stack), *.e2e.spec.ts = end-to-end.
const { pathsToModuleNameMapper } = require('./tools/jest/paths');

const suite = process.env.TRIBUTARY_TEST_SUITE ?? 'all';
const patterns = {
  unit: ['**/?(*.)spec.ts'],
  integration: ['**/*.int.spec.ts'],
  e2e: ['**/*.e2e.spec.ts'],
  all: ['**/*.spec.ts'],
};
const ignore = {
  unit: ['\\.int\\.spec\\.ts$', '\\.e2e\\.spec\\.ts$'],
  integration: [],
  e2e: [],
  all: [],
};

/** @type {import('jest').Config} */
module.exports = {
  rootDir: __dirname,
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/tools', '<rootDir>/tests'],
  testEnvironment: 'node',
  testMatch: patterns[suite],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', ...ignore[suite]],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
        },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      },
    ],
  },
  moduleNameMapper: pathsToModuleNameMapper(),
  globalSetup: '<rootDir>/tools/jest/global-setup.ts',
  globalTeardown: '<rootDir>/tools/jest/global-teardown.ts',
  testTimeout: 120_000,
  // Integration suites share one real stack; running them in parallel on 2 cores only adds rebalances.
  maxWorkers: suite === 'unit' ? '50%' : 1,
};
