import { execFile } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const ESLINT = join(ROOT, 'node_modules', '.bin', 'eslint');

/** The layer errors ESLint reports for `source` as if it were the file `file` of the repository. */
function layerErrors(file: string, source: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      ESLINT,
      ['--stdin', '--stdin-filename', join(ROOT, file), '--format', 'json'],
      { cwd: ROOT },
      (error, stdout) => {
        // ESLint exits 1 when it found problems; its JSON report is on stdout either way.
        if (error && error.code !== 1) return reject(error);
        const [result] = JSON.parse(stdout) as {
          messages: { ruleId: string | null; message: string }[];
        }[];
        resolve(
          result.messages
            .filter((m) => m.ruleId === 'boundaries/dependencies')
            .map((m) => m.message),
        );
      },
    );
    child.stdin?.end(source);
  });
}

/**
 * The layer rule (eslint.layers.mjs), run by ESLint as `npm run lint` runs it, on imports written
 * as they would be in src/: what it refuses
 * and what it lets through, so a rule that quietly matches nothing fails here, not in review.
 */
describe('the layer rule', () => {
  it.each([
    ['common importing a feature', 'src/common/http/example.ts', '../../catalog/catalog.service'],
    ['config importing a feature', 'src/config/example.ts', '../auth/principal'],
    ['database importing a feature', 'src/database/example.ts', '../cas/cas.entities'],
    ['the server importing a feature', 'src/server/example.ts', '../streams/streams.service'],
    ['Incus knowledge importing common code', 'src/incus/example.ts', '../common/pagination'],
    [
      'the provenance formats importing a feature',
      'src/transparency/example.ts',
      '../provenance/provenance.service',
    ],
    ['the CLI importing server code', 'cli/src/example.ts', '../../src/catalog/catalog.service'],
    [
      'the CLI importing common server code',
      'cli/src/commands/example.ts',
      '../../../src/common/pagination',
    ],
    ['the server importing the CLI', 'src/catalog/example.ts', '../../cli/src/api'],
    ['a feature importing the composition root', 'src/catalog/example.ts', '../app.module'],
    ['common code importing the composition root', 'src/common/example.ts', '../app.errors'],
    [
      'a feature importing the maintenance compositions',
      'src/cas/example.ts',
      '../maintenance/maintenance.module',
    ],
  ])('refuses %s', async (_what, file, target) => {
    const errors = await layerErrors(file, `import { x } from '${target}';\nexport const y = x;\n`);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/not allowed/);
  });

  it.each([
    ['a feature importing common code', 'src/catalog/example.ts', '../common/pagination'],
    ['a feature importing another feature', 'src/aliases/example.ts', '../catalog/catalog.service'],
    ['the CLI importing Incus knowledge', 'cli/src/example.ts', '../../src/incus/architecture'],
    [
      'the CLI importing the provenance formats',
      'cli/src/commands/example.ts',
      '../../../src/transparency/merkle',
    ],
    [
      'the CLI importing its generated client',
      'cli/src/commands/example.ts',
      '../client/api-client',
    ],
    ['the root importing a feature', 'src/example.ts', './catalog/catalog.module'],
    ['the server importing the root', 'src/server/example.ts', '../app.module'],
  ])('allows %s', async (_what, file, target) => {
    expect(
      await layerErrors(file, `import { x } from '${target}';\nexport const y = x;\n`),
    ).toEqual([]);
  });
});
