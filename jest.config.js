// Type-checked loosely: plain CommonJS read by jest before any compilation.
/** Three tiers (docs/testing.md): unit beside the code, integration and e2e on the real servers. */
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
  },
];

const { existsSync, readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

/**
 * Nest 12 and a few of its dependencies ship ESM only. Node 20 loads them from CommonJS through
 * require(esm), but jest's module loader does not, so exactly the packages marked
 * `"type": "module"` are compiled to CommonJS like our own code.
 */
function esmPackages(dir = join(__dirname, 'node_modules'), found = new Set()) {
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('.')) continue;
    const names = entry.startsWith('@')
      ? readdirSync(join(dir, entry)).map((n) => `${entry}/${n}`)
      : [entry];
    for (const name of names) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, name, 'package.json'), 'utf8'));
        if (pkg.type === 'module') found.add(name);
      } catch {
        // not a package
      }
      esmPackages(join(dir, name, 'node_modules'), found);
    }
  }
  return found;
}
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const esmPattern = [...esmPackages()].map(escape).join('|');

/** @type {(name: string, match: string[], extra?: object) => import('jest').Config} */
const project = (name, match, extra = {}) => ({
  displayName: name,
  testMatch: match,
  transform: { '^.+\\.(t|j|mj)s$': swc },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPattern})/)`],
  testEnvironment: 'node',
  ...extra,
});

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    project('unit', ['<rootDir>/src/**/*.spec.ts', '<rootDir>/cli/src/**/*.spec.ts']),
    project('integration', ['<rootDir>/test/integration/**/*.test.ts'], {
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
      slowTestThreshold: 20,
    }),
    project('e2e', ['<rootDir>/test/e2e/**/*.test.ts'], {
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
      slowTestThreshold: 30,
    }),
  ],
  testTimeout: 60_000,
};
