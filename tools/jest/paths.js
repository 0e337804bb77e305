// Maps the tsconfig path aliases (@tributary/*) to source for Jest, so libs are never built before tests.
'use strict';
const path = require('node:path');
const base = require('../../tsconfig.base.json');

function pathsToModuleNameMapper() {
  const mapper = {};
  for (const [alias, [target]] of Object.entries(base.compilerOptions.paths)) {
    mapper[`^${alias.replace('/', '\\/')}$`] = path.join(__dirname, '..', '..', target);
  }
  return mapper;
}
module.exports = { pathsToModuleNameMapper };
