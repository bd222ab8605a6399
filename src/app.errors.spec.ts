import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { registeredErrorCodes } from './common/errors/error-registry';
import { FEATURE_ERRORS } from './app.errors';

describe('the error registry', () => {
  it("holds every feature's codes once the application's composition has loaded", () => {
    const tables = readdirSync(__dirname, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) =>
        readdirSync(join(__dirname, d.name))
          .filter((f) => f.endsWith('.errors.ts'))
          .map((f) => join(__dirname, d.name, f)),
      );
    expect(tables.length).toBe(FEATURE_ERRORS.length);
    const registered = new Set(registeredErrorCodes());
    for (const file of tables) {
      const exported = Object.values(require(file) as Record<string, object>);
      for (const table of exported)
        for (const code of Object.keys(table))
          expect([file, code, registered.has(code)]).toEqual([file, code, true]);
    }
  });
});
