// Flat ESLint config: typescript-eslint + Nx module boundaries (apps never import apps) + Prettier compatibility.
const nx = require('@nx/eslint-plugin');
const prettier = require('eslint-config-prettier');

// Libs in layers: each may use the layers below it, never one above (contracts < base < store < messaging < access <
// runtime). Production code never imports the test harness; specs may.
const layers = [
  'layer:contracts',
  'layer:base',
  'layer:store',
  'layer:messaging',
  'layer:access',
  'layer:runtime',
];
const below = (layer) => layers.slice(0, layers.indexOf(layer));
function depConstraints({ specs }) {
  const testing = specs ? ['layer:testing'] : [];
  return [
    {
      sourceTag: 'type:app',
      onlyDependOnLibsWithTags: ['type:lib'],
      notDependOnLibsWithTags: specs ? [] : ['layer:testing'],
    },
    { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
    ...layers.map((layer) => ({ sourceTag: layer, onlyDependOnLibsWithTags: [...below(layer), ...testing] })),
    // The harness reads and writes topics and stores like a service would; it stands below the runtime.
    {
      sourceTag: 'layer:testing',
      onlyDependOnLibsWithTags: ['layer:contracts', 'layer:base', 'layer:store', 'layer:messaging'],
    },
    { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:lib'] },
    // End-to-end tests boot every service in one process; they are the only place apps meet.
    { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:app', 'type:lib'] },
  ];
}
const boundaries = (specs, allow = []) => [
  'error',
  { enforceBuildableLibDependency: false, allow, depConstraints: depConstraints({ specs }) },
];
// The one list of services (tools/services/services.json): the e2e suite may import each one's alias.
const services = require('./tools/services/services.json').services.map((s) => s.name);

module.exports = [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '.stack/**',
      '.nx/**',
      // Git-ignored scratch space: tools/services' boot test generates a service there (a crashed run may leave it).
      'tmp/**',
      'libs/contracts/src/generated/**',
      '**/*.js',
    ],
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(false),
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Specs and the test helpers beside them (a `testing/` folder) may use the harness.
    files: ['**/*.spec.ts', '**/testing/**/*.ts'],
    rules: { '@nx/enforce-module-boundaries': boundaries(true) },
  },
  {
    // Nx forbids importing application projects outright; only the e2e suite may, through the apps' aliases.
    files: ['tests/e2e/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(
        true,
        services.map((s) => `@tributary/${s}`),
      ),
    },
  },
  prettier,
];
