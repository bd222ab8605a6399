// The layers of src/ and cli/ and who may import whom, for eslint-plugin-boundaries
// (eslint.config.mjs). Patterns match from the repository root (partialMatch: false).
// docs/architecture.md explains them; test/layers.test.ts shows the rule failing on a forbidden
// import. The first element whose pattern matches a file is its element.

/** Every folder or file of src/ is one of these. */
export const LAYER_ELEMENTS = [
  // The compositions the maintenance commands run in, beside the application's (root files below).
  { type: 'root', pattern: 'src/maintenance', partialMatch: false },
  { type: 'common', pattern: 'src/common', partialMatch: false },
  { type: 'config', pattern: 'src/config', partialMatch: false },
  { type: 'database', pattern: 'src/database', partialMatch: false },
  { type: 'server', pattern: 'src/server', partialMatch: false },
  { type: 'incus', pattern: 'src/incus', partialMatch: false },
  // The provenance formats (Merkle trees, signed notes, DSSE, records): pure, shared with the CLI.
  { type: 'transparency', pattern: 'src/transparency', partialMatch: false },
  // Reading Simple Streams trees and choosing what to copy: pure, shared by the CLI's import and
  // the server's mirror; it may use the Incus knowledge.
  { type: 'simplestreams', pattern: 'src/simplestreams', partialMatch: false },
  // The CLI package (an npm workspace) and the API client generated into it.
  { type: 'client', pattern: 'cli/src/client', partialMatch: false },
  { type: 'cli', pattern: 'cli/src', partialMatch: false },
  // Every other folder of src/ (not the root's files: they are no folder).
  { type: 'feature', pattern: 'src/!(*.*)', capture: ['name'], partialMatch: false },
];

/** The composition root: main.ts, app.module.ts, app.errors.ts, app.entities.ts, app.setup.ts. */
export const LAYER_FILES = [{ category: 'root', pattern: 'src/*.ts' }];

const to = (...types) => [
  { to: { element: { types: { anyOf: types } } } },
  ...(types.includes('root') ? [{ to: { file: { categories: 'root' } } }] : []),
];

/** Allowed unless a policy here disallows it. */
export const LAYER_POLICIES = [
  // Shared code knows no feature, and no composition.
  {
    from: { element: { type: 'common' } },
    disallow: to('feature', 'server', 'cli', 'client', 'root', 'database', 'incus'),
  },
  {
    from: { element: { type: 'config' } },
    disallow: to('feature', 'server', 'cli', 'client', 'root', 'database', 'incus'),
  },
  {
    from: { element: { type: 'database' } },
    disallow: to('feature', 'server', 'cli', 'client', 'root'),
  },
  // The server runs the application the root composes; it knows no feature by name.
  { from: { element: { type: 'server' } }, disallow: to('feature', 'cli', 'client') },
  // Incus knowledge is pure: it imports nothing else of src/.
  {
    from: { element: { type: 'incus' } },
    disallow: to('common', 'config', 'database', 'server', 'feature', 'cli', 'client', 'root'),
  },
  {
    from: { element: { type: 'transparency' } },
    disallow: to(
      'common',
      'config',
      'database',
      'server',
      'feature',
      'cli',
      'client',
      'root',
      'incus',
      'simplestreams',
    ),
  },
  {
    from: { element: { type: 'simplestreams' } },
    disallow: to(
      'common',
      'config',
      'database',
      'server',
      'feature',
      'cli',
      'client',
      'root',
      'transparency',
    ),
  },
  // The CLI is a client of the HTTP API: the generated client, Incus knowledge and the provenance
  // formats, no server code.
  {
    from: { element: { type: 'cli' } },
    disallow: to('common', 'config', 'database', 'server', 'feature', 'root'),
  },
  {
    from: { element: { type: 'client' } },
    disallow: to('common', 'config', 'database', 'server', 'feature', 'cli', 'root'),
  },
  // Features never reach into the server, the CLI or the composition that contains them.
  { from: { element: { type: 'feature' } }, disallow: to('server', 'cli', 'root') },
];
