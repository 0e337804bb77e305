// Flat ESLint config: typescript-eslint + Nx module boundaries (apps never import apps) + Prettier compatibility.
const nx = require('@nx/eslint-plugin');
const prettier = require('eslint-config-prettier');

const depConstraints = [
  { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
  { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
  { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:lib'] },
  // End-to-end tests boot every service in one process; they are the only place apps meet.
  { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:app', 'type:lib'] },
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
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints,
        },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Nx forbids importing application projects outright; only the e2e suite may, through the apps' aliases.
    files: ['tests/e2e/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: services.map((s) => `@tributary/${s}`),
          depConstraints,
        },
      ],
    },
  },
  prettier,
];
